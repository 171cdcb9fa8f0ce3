/**
 * The payloads of `npm run fuzz`: for each inbound topic of both sides, a valid message and seven
 * hostile classes derived from it, from a seeded PRNG (the same seed gives the same run).
 */

/** mulberry32: small, fast, seeded; enough for fuzzing */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CLASSES = ['valid', 'random-bytes', 'truncated-json', 'deep-nesting', 'huge', 'wrong-types', 'prototype-keys', 'extreme-values'] as const;
export type FuzzClass = (typeof CLASSES)[number];
/** how often each class is drawn (huge payloads are rarer: each is up to the broker's cap) */
const WEIGHTS: Record<FuzzClass, number> = {
  valid: 10,
  'random-bytes': 15,
  'truncated-json': 15,
  'deep-nesting': 10,
  huge: 2,
  'wrong-types': 20,
  'prototype-keys': 13,
  'extreme-values': 15,
};

export interface FuzzTopic {
  side: 'platform' | 'device';
  /** the path after `.../type/T/id/D/` */
  path: string;
  /** a valid message of this topic */
  valid(r: Rng, reqId: string): Record<string, unknown>;
}

export class Rng {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)];
  }
  text(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789._-'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
  /** text with control characters, quotes, unicode and surrogates */
  nasty(n: number): string {
    return this.text(n, 'aZ"\\\u0000\u0007\n\r\t\u001b\u2028\u00e9\u{1F600}/+#$%{}[]:,');
  }
}

const firmwareValue = (r: Rng) => ({
  version: `1.${r.int(0, 9)}`,
  name: 'fw',
  uri: `http://127.0.0.1:9/fw-${r.int(0, 99)}.bin`,
  verifier: r.text(64, '0123456789abcdef'),
  state: r.int(0, 2),
  updateStatus: r.int(0, 6),
});

export const TOPICS: FuzzTopic[] = [
  {
    side: 'platform',
    path: 'mgmt/manage',
    valid: (r, reqId) => ({
      reqId,
      d: {
        metadata: { site: r.text(8) },
        lifetime: r.int(0, 86400),
        supports: { deviceActions: true, firmwareActions: r.next() < 0.5 },
        deviceInfo: { serialNumber: r.text(10), fwVersion: '1.0' },
      },
    }),
  },
  { side: 'platform', path: 'mgmt/unmanage', valid: (_r, reqId) => ({ reqId }) },
  { side: 'platform', path: 'response', valid: (r, reqId) => ({ reqId, rc: r.pick([200, 202, 204, 400, 404, 500]), message: r.text(10) }) },
  { side: 'platform', path: 'notify', valid: (r, reqId) => ({ reqId, d: { fields: [{ field: 'mgmt.firmware', value: { state: r.int(0, 2) } }] } }) },
  {
    side: 'platform',
    path: 'device/update/location',
    valid: (r, reqId) => ({
      reqId,
      d: {
        longitude: r.int(-180, 180),
        latitude: r.int(-90, 90),
        elevation: r.int(0, 9000),
        accuracy: r.int(0, 50),
        measuredDateTime: new Date(0).toISOString(),
      },
    }),
  },
  { side: 'platform', path: 'add/diag/errorCodes', valid: (r, reqId) => ({ reqId, d: { errorCode: r.int(-1000, 1000) } }) },
  { side: 'platform', path: 'clear/diag/errorCodes', valid: (_r, reqId) => ({ reqId }) },
  {
    side: 'platform',
    path: 'add/diag/log',
    valid: (r, reqId) => ({ reqId, d: { message: r.text(20), timestamp: new Date(0).toISOString(), data: r.text(16), severity: r.int(0, 2) } }),
  },
  { side: 'platform', path: 'clear/diag/log', valid: (_r, reqId) => ({ reqId }) },
  { side: 'device', path: 'mgmt/initiate/device/reboot', valid: (_r, reqId) => ({ reqId }) },
  { side: 'device', path: 'mgmt/initiate/device/factory_reset', valid: (_r, reqId) => ({ reqId }) },
  { side: 'device', path: 'mgmt/initiate/firmware/download', valid: (_r, reqId) => ({ reqId }) },
  { side: 'device', path: 'mgmt/initiate/firmware/update', valid: (_r, reqId) => ({ reqId }) },
  { side: 'device', path: 'mgmt/custom/bundle/act', valid: (r, reqId) => ({ reqId, d: { fields: [{ field: 'p', value: r.text(8) }] } }) },
  {
    side: 'device',
    path: 'device/update',
    valid: (r, reqId) => ({
      reqId,
      d: { fields: [{ field: r.pick(['mgmt.firmware', 'metadata', 'location', 'deviceInfo', 'nope']), value: firmwareValue(r) }] },
    }),
  },
  { side: 'device', path: 'observe', valid: (r, reqId) => ({ reqId, d: { fields: [{ field: r.pick(['mgmt.firmware', 'mgmt.firmware.state', 'nope']) }] } }) },
  { side: 'device', path: 'cancel', valid: (r, reqId) => ({ reqId, d: { fields: [{ field: r.pick(['mgmt.firmware', 'nope']) }] } }) },
  { side: 'device', path: 'response', valid: (r, reqId) => ({ reqId, rc: r.pick([200, 202, 404]) }) },
];

function pickClass(r: Rng): FuzzClass {
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  let x = r.next() * total;
  for (const c of CLASSES) {
    x -= WEIGHTS[c];
    if (x < 0) return c;
  }
  return 'valid';
}

/** Every leaf's path in a message (iteratively; messages are small). */
function leaves(v: unknown): (string | number)[][] {
  const out: (string | number)[][] = [];
  const stack: [unknown, (string | number)[]][] = [[v, []]];
  while (stack.length) {
    const [x, p] = stack.pop()!;
    if (x && typeof x === 'object') {
      const entries = Array.isArray(x) ? x.map((y, i) => [i, y] as const) : Object.entries(x);
      if (entries.length === 0) out.push(p);
      for (const [k, y] of entries) stack.push([y, [...p, k]]);
    } else out.push(p);
  }
  return out;
}

function setAt(root: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  if (path.length === 0) return;
  let cur = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1]] = value;
}

function wrongValue(r: Rng): unknown {
  return r.pick<() => unknown>([
    () => null,
    () => true,
    () => -1,
    () => 1e308,
    () => r.text(r.int(0, 20)),
    () => [],
    () => [1, 'a', null],
    () => ({}),
    () => ({ field: 1 }),
    () => '999',
    () => ' 200 ',
    () => 3.5,
  ])();
}

/** A nesting `depth` deep of arrays or objects, as text (built without recursion). */
function nested(r: Rng, depth: number): string {
  return r.next() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/**
 * One payload of class `c` for `topic`, never over `cap` bytes (the broker's limit: a client over
 * it is disconnected by the embedded broker).
 */
export function payloadFor(r: Rng, topic: FuzzTopic, reqId: string, cap: number): { cls: FuzzClass; payload: Buffer } {
  const cls = pickClass(r);
  const valid = topic.valid(r, reqId);
  let text: string | Buffer;
  switch (cls) {
    case 'valid':
      text = JSON.stringify(valid);
      break;
    case 'random-bytes': {
      const b = Buffer.alloc(r.int(0, 512));
      for (let i = 0; i < b.length; i++) b[i] = r.int(0, 255);
      text = b;
      break;
    }
    case 'truncated-json': {
      const s = JSON.stringify(valid);
      text = s.slice(0, r.int(0, s.length - 1));
      break;
    }
    case 'deep-nesting': {
      const depth = r.int(17, 10000);
      const deep = nested(r, depth);
      const where = r.pick(['d.metadata', 'd.fields', 'value', 'd', 'root']);
      const s = JSON.stringify({ ...valid, d: '__DEEP__' });
      if (where === 'root') text = deep;
      else if (where === 'd') text = s.replace('"__DEEP__"', deep);
      else if (where === 'd.metadata') text = s.replace('"__DEEP__"', `{"metadata":{"x":${deep}},"deviceInfo":{"a":${deep}}}`);
      else if (where === 'd.fields') text = s.replace('"__DEEP__"', `{"fields":[{"field":"mgmt.firmware","value":{"x":${deep}}}]}`);
      else text = s.replace('"__DEEP__"', `{"fields":[{"field":"metadata","value":${deep}}],"field":"location","value":${deep}}`);
      break;
    }
    case 'huge': {
      const n = r.int(1000, cap - 256);
      const big = r.text(Math.min(n, 1 << 17));
      const kind = r.pick(['key', 'string', 'field', 'many-keys']);
      if (kind === 'key') text = JSON.stringify({ ...valid, d: { supports: { [big]: true }, fields: [{ field: 'x', value: 1 }] } });
      else if (kind === 'string')
        text = JSON.stringify({
          ...valid,
          message: big,
          d: { metadata: { s: big.slice(0, n >> 1) }, fields: [{ field: 'mgmt.firmware', value: { uri: big.slice(0, n >> 1) } }] },
        });
      else if (kind === 'field')
        text = JSON.stringify({
          ...valid,
          d: {
            fields: [
              { field: big, value: 1 },
              { field: big.slice(1), value: 2 },
            ].slice(0, n > 60000 ? 1 : 2),
          },
        });
      else text = JSON.stringify({ ...valid, d: { metadata: Object.fromEntries(Array.from({ length: Math.min(5000, n >> 4) }, (_, i) => [`k${i}`, i])) } });
      break;
    }
    case 'wrong-types': {
      const paths = leaves(valid);
      const m = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>;
      for (let i = r.int(1, 3); i > 0; i--) setAt(m, r.pick(paths), wrongValue(r));
      if (r.next() < 0.2) m.d = wrongValue(r);
      text = JSON.stringify(m);
      break;
    }
    case 'prototype-keys': {
      const key = r.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']);
      const s = JSON.stringify(valid);
      const poison = `{"${key}":{"polluted":true,"isAdmin":true},"constructor":{"prototype":{"polluted":true}}}`;
      text = r.pick([
        s.replace(/^\{/, `{"${key}":{"polluted":true},`),
        JSON.stringify({ reqId, d: { metadata: {}, supports: {}, fields: [{ field: key, value: 1 }] } })
          .replace('"metadata":{}', `"metadata":${poison}`)
          .replace('"supports":{}', `"supports":${poison}`),
        `{"reqId":"${reqId}","d":{"fields":[{"field":"deviceInfo.${key}","value":"x"},{"field":"mgmt.firmware.${key}","value":1}]}}`,
      ]);
      break;
    }
    case 'extreme-values': {
      const m = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>;
      const extremes = [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0, -0, 1e-300, 180, -180, 90, -90, 999, 100];
      for (const p of leaves(valid))
        if (r.next() < 0.5) setAt(m, p, typeof r.next() === 'number' && r.next() < 0.5 ? r.pick(extremes) : r.nasty(r.int(0, 256)));
      if (r.next() < 0.3) m.reqId = r.nasty(256);
      if (r.next() < 0.3) m.d = { fields: Array.from({ length: r.pick([16, 64, 65]) }, (_, i) => ({ field: `mgmt.firmware.${i}`, value: i })) };
      text = JSON.stringify(m);
      break;
    }
  }
  const payload = typeof text === 'string' ? Buffer.from(text) : text;
  return { cls, payload: payload.length > cap ? payload.subarray(0, cap) : payload };
}
