#!/usr/bin/env bash
# The system packages the test suite needs (Debian/Ubuntu, as root). The one list:
# .ci/run calls this script too, and the README points here.
#   flatbuffers-compiler  flatc: the independent flatbuffers implementation for the codec conformance tests
#   redis-server          RunInference's Redis Streams source/sink and scale-out tests
#   postgresql            the PostgreSQL sink test (a throwaway cluster in a temp dir)
#   chromium              the Classy web playground's and perf's HTML report browser tests
#   wrk                   the perf-vs-wrk benchmark (npm run bench -- perf-wrk)
#   openssl               the TLS tests make their CA and certificates at test time
#   golang-go + golang-*  build the real graphpipe-go peer offline (../shared/peers/build-graphpipe-go.sh)
#   python3-numpy python3-flatbuffers python3-requests  run the real graphpipe-py peer
#   dnsmasq               a real DNS server on loopback for dns:// and dns+srv:// discovery tests
#   nginx                 the tested deploy/nginx config in front of replicas
#   python3-torch python3-onnx  docs/models.md's PyTorch-to-ONNX export, run by a test
#   python3-yaml          parses deploy/prometheus/alerts.yaml in its test (no npm YAML parser is installed)
set -euo pipefail
PACKAGES=(flatbuffers-compiler redis-server postgresql chromium openssl wrk
  golang-go golang-github-sirupsen-logrus-dev golang-github-coreos-bbolt-dev golang-golang-x-sys-dev
  golang-golang-x-crypto-dev golang-github-spf13-cobra-dev python3-numpy python3-flatbuffers python3-requests
  dnsmasq nginx python3-torch python3-onnx)
PACKAGES+=(python3-yaml)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: run as root (sudo $0); it installs: ${PACKAGES[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
