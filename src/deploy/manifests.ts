// Types only (erased at compile time, so no run-time dependency): a misspelt or
// misplaced field in the objects below is a compile error, not a silent no-op.
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IEnvVar, IProbe, IService } from 'kubernetes-models/v1';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../server/http-server.js';

/**
 * The Kubernetes objects that run modelpipe, built from one typed source so the
 * committed YAML (deploy/kubernetes/, written by `npm run manifests`), the Dockerfile
 * and the CLI cannot drift apart: tests validate these objects against the
 * Kubernetes schemas and start modelpipe with exactly this command and environment.
 */
export interface DeployOptions {
  name: string;
  image: string;
  /** Where the model comes from: a file or directory in the image/volume, or an http(s) URL. */
  model: string;
  httpPort: number;
  grpcPort: number;
  /** The Service's port for scrapers (targets the HTTP port, which serves /metrics). */
  metricsPort: number;
  replicas: number;
  minReplicas: number;
  maxReplicas: number;
  targetCpuPercent: number;
  cpuRequest: string;
  cpuLimit: string;
  memoryRequest: string;
  memoryLimit: string;
  drainTimeoutMs: number;
  /** How long the pod keeps serving after it is told to stop, while endpoints are removed. */
  preStopSeconds: number;
  /** Longest model load (download included) the startup probe waits for. */
  startupSeconds: number;
}

export const DEFAULTS: DeployOptions = {
  name: 'modelpipe',
  image: 'ghcr.io/modelpipe/modelpipe:0.1.0',
  model: 'https://github.com/onnx/models/raw/main/validated/vision/classification/squeezenet/model/squeezenet1.1-7.onnx',
  httpPort: 8080,
  grpcPort: 8081,
  metricsPort: 9090,
  replicas: 2,
  minReplicas: 2,
  maxReplicas: 10,
  targetCpuPercent: 70,
  cpuRequest: '1',
  cpuLimit: '2',
  memoryRequest: '512Mi',
  memoryLimit: '2Gi',
  drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
  preStopSeconds: 5,
  startupSeconds: 300,
};

/** The image's ENTRYPOINT (tini as PID 1 forwards SIGTERM and reaps) and CMD; the Dockerfile repeats them. */
export const ENTRYPOINT = ['/usr/bin/tini', '--', 'node', '/app/dist/src/cli/main.js'];
export const CMD = ['serve'];
export const CONTAINER = 'modelpipe';
/** Where a model downloaded from a URL is kept (an emptyDir: the root filesystem is read-only). */
export const DOWNLOAD_DIR = '/var/cache/modelpipe';

/** Seconds Kubernetes waits after SIGTERM before SIGKILL: the preStop sleep, the drain, and a margin. */
export function gracePeriodSeconds(o: DeployOptions): number {
  return o.preStopSeconds + Math.ceil(o.drainTimeoutMs / 1000) + 10;
}

export function containerEnv(o: DeployOptions): IEnvVar[] {
  return [
    { name: 'MODELPIPE_MODEL', value: o.model },
    { name: 'MODELPIPE_LISTEN', value: `0.0.0.0:${o.httpPort}` },
    { name: 'MODELPIPE_GRPC_LISTEN', value: `0.0.0.0:${o.grpcPort}` },
    { name: 'MODELPIPE_DRAIN_TIMEOUT', value: String(o.drainTimeoutMs) },
    { name: 'MODELPIPE_DOWNLOAD_DIR', value: DOWNLOAD_DIR },
    // --processes auto follows the container's CPU limit (see src/cli/cpu-limit.ts).
    { name: 'MODELPIPE_PROCESSES', value: 'auto' },
    { name: 'MODELPIPE_CPU_LIMIT', valueFrom: { resourceFieldRef: { containerName: CONTAINER, resource: 'limits.cpu', divisor: '1' } } },
    { name: 'MODELPIPE_LOG_LEVEL', value: 'info' },
    // Tracing stays off until OTEL_EXPORTER_OTLP_ENDPOINT names a collector; then each
    // span says which pod served it (Kubernetes expands $(VAR) from the entries above).
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'OTEL_SERVICE_NAME', value: o.name },
    { name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)' },
  ];
}

function labels(o: DeployOptions): Record<string, string> {
  return { 'app.kubernetes.io/name': o.name, 'app.kubernetes.io/component': 'server' };
}

function probe(path: string, periodSeconds: number, failureThreshold: number): IProbe {
  return { httpGet: { path, port: 'http' }, periodSeconds, failureThreshold, timeoutSeconds: 2 };
}

export function deployment(o: DeployOptions = DEFAULTS): IDeployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, labels: labels(o) },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: labels(o) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: labels(o),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(o.httpPort), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          terminationGracePeriodSeconds: gracePeriodSeconds(o),
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 },
          containers: [
            {
              name: CONTAINER,
              image: o.image,
              command: ENTRYPOINT,
              args: CMD,
              env: containerEnv(o),
              ports: [
                { name: 'http', containerPort: o.httpPort, protocol: 'TCP' },
                { name: 'grpc', containerPort: o.grpcPort, protocol: 'TCP' },
              ],
              resources: {
                requests: { cpu: o.cpuRequest, memory: o.memoryRequest },
                limits: { cpu: o.cpuLimit, memory: o.memoryLimit },
              },
              // Model loads (a download, session creation) can be slow: liveness waits for this.
              startupProbe: probe('/health/live', 5, Math.ceil(o.startupSeconds / 5)),
              livenessProbe: probe('/health/live', 10, 3),
              readinessProbe: probe('/health/ready', 5, 2),
              // Keep serving while the endpoint removal reaches every proxy, then SIGTERM drains.
              lifecycle: { preStop: { exec: { command: ['sleep', String(o.preStopSeconds)] } } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'downloads', mountPath: DOWNLOAD_DIR },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'downloads', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}

/** The ClusterIP Service: clients, and a `metrics` port a ServiceMonitor selects by name. */
export function service(o: DeployOptions = DEFAULTS): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name, labels: labels(o) },
    spec: {
      type: 'ClusterIP',
      selector: labels(o),
      ports: [
        { name: 'http', port: o.httpPort, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: o.grpcPort, targetPort: 'grpc', protocol: 'TCP' },
        { name: 'metrics', port: o.metricsPort, targetPort: 'http', protocol: 'TCP' },
      ],
    },
  };
}

/**
 * The headless Service: DNS answers with every ready pod, and its named ports give
 * SRV records (`_http._tcp.<name>-headless.<ns>.svc.cluster.local`, `_grpc._tcp…`)
 * for client-side discovery (`dns+srv://…`) across the replicas.
 */
export function headlessService(o: DeployOptions = DEFAULTS): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `${o.name}-headless`, labels: labels(o) },
    spec: {
      clusterIP: 'None',
      selector: labels(o),
      ports: [
        { name: 'http', port: o.httpPort, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: o.grpcPort, targetPort: 'grpc', protocol: 'TCP' },
      ],
    },
  };
}

export function horizontalPodAutoscaler(o: DeployOptions = DEFAULTS): IHorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: o.name, labels: labels(o) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: o.name },
      minReplicas: o.minReplicas,
      maxReplicas: o.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: o.targetCpuPercent } } }],
    },
  };
}

export function podDisruptionBudget(o: DeployOptions = DEFAULTS): IPodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: o.name, labels: labels(o) },
    spec: { maxUnavailable: 1, selector: { matchLabels: labels(o) } },
  };
}
