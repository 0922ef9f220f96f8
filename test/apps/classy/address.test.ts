import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressPolicy, forbiddenReason, literalAddress, parseAddress, parseCidr } from '../../../src/sequencing/address.js';
import { ModelpipeError } from '../../../src/errors/index.js';

// Pure address classification: nothing here opens a socket.

const FORBIDDEN: [string, RegExp][] = [
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['10.0.0.1', /private \(10\/8\)/],
  ['172.16.0.1', /private \(172\.16\/12\)/],
  ['172.31.255.255', /private \(172\.16\/12\)/],
  ['192.168.1.1', /private \(192\.168\/16\)/],
  ['169.254.169.254', /link-local/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['100.127.255.255', /carrier-grade NAT/],
  ['0.0.0.0', /this network/],
  ['0.1.2.3', /this network/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['255.255.255.255', /reserved/],
  ['::1', /loopback/],
  ['::', /unspecified/],
  ['fe80::1', /link-local/],
  ['febf:ffff::1', /link-local/],
  ['fc00::1', /unique-local/],
  ['fd12:3456::1', /unique-local/],
  ['ff02::1', /multicast/],
  // IPv4-mapped IPv6, dotted and hex forms
  ['::ffff:127.0.0.1', /loopback/],
  ['::ffff:7f00:1', /loopback/],
  ['::ffff:169.254.169.254', /link-local/],
  ['::ffff:a9fe:a9fe', /link-local/],
  ['::ffff:10.0.0.1', /private/],
  ['0:0:0:0:0:ffff:c0a8:0101', /private \(192\.168\/16\)/],
  // v4 carried inside other v6 forms
  ['::127.0.0.1', /loopback, embedded/],
  ['64:ff9b::a9fe:a9fe', /link-local.*embedded/],
  ['2002:7f00:0001::1', /loopback, embedded/],
  ['[::1]', /loopback/],
  ['fe80::1%eth0', /link-local/],
  ['not-an-ip', /not an IP address/],
];

const PUBLIC = [
  '8.8.8.8',
  '1.1.1.1',
  '172.32.0.1',
  '172.15.255.255',
  '100.128.0.1',
  '169.255.0.1',
  '2606:4700::1111',
  '::ffff:8.8.8.8',
  '2002:0808:0808::1',
];

test('forbiddenReason classifies non-public addresses, including mapped and embedded forms', () => {
  for (const [ip, why] of FORBIDDEN) assert.match(forbiddenReason(ip) ?? 'ALLOWED', why, ip);
  for (const ip of PUBLIC) assert.equal(forbiddenReason(ip), undefined, ip);
});

test('parseAddress expands IPv6 and maps IPv4 into the same 16-byte form', () => {
  assert.deepEqual(parseAddress('1.2.3.4'), parseAddress('::ffff:1.2.3.4'));
  assert.deepEqual(parseAddress('::ffff:102:304'), parseAddress('::ffff:1.2.3.4'));
  assert.deepEqual([...parseAddress('2001:db8::8:1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1]);
  assert.equal(parseAddress('1.2.3'), undefined);
  assert.equal(parseAddress('example.com'), undefined);
});

test('AddressPolicy: allowPrivate, allowAddresses (single and CIDR), and the error it throws', () => {
  const strict = new AddressPolicy();
  assert.throws(
    () => strict.check('127.0.0.1', 'localhost'),
    (e) =>
      e instanceof ModelpipeError &&
      e.code === 'MP_ERR_FORBIDDEN_ADDRESS' &&
      e.message.startsWith('localhost resolves to 127.0.0.1: refused, loopback address (to allow it, ') &&
      e.message.includes('--allow-address 127.0.0.1 or --allow-private'),
  );
  assert.doesNotThrow(() => strict.check('8.8.8.8'));
  assert.equal(new AddressPolicy({ allowPrivate: true }).refusal('169.254.169.254'), undefined);
  const one = new AddressPolicy({ allowAddresses: ['127.0.0.1'] });
  assert.equal(one.refusal('127.0.0.1'), undefined);
  assert.equal(one.refusal('::ffff:127.0.0.1'), undefined); // the same address, mapped
  assert.match(one.refusal('127.0.0.2') ?? '', /loopback/);
  assert.match(one.refusal('::1') ?? '', /loopback/);
  const net = new AddressPolicy({ allowAddresses: ['10.1.0.0/16', 'fd00::/8'] });
  assert.equal(net.refusal('10.1.200.3'), undefined);
  assert.match(net.refusal('10.2.0.1') ?? '', /private/);
  assert.equal(net.refusal('fd00::5'), undefined);
  assert.match(net.refusal('fc00::5') ?? '', /unique-local/);
});

test('parseCidr rejects junk with MP_ERR_BAD_CONFIG', () => {
  for (const bad of ['10.0.0.0/33', '::/129', 'x/8', '10.0.0.0/-1', '10.0.0.0/8.5']) {
    assert.throws(
      () => parseCidr(bad),
      (e) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG',
      bad,
    );
  }
});

test('literalAddress tells IP literals from host names', () => {
  assert.equal(literalAddress('[::1]'), '::1');
  assert.equal(literalAddress('127.0.0.1'), '127.0.0.1');
  assert.equal(literalAddress('localhost'), undefined);
});
