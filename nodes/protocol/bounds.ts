/**
 * The bounds of everything that comes in from a device or a REST client (one table, copied into
 * the README), and the checker that holds a parsed value to them before anything of it is stored,
 * echoed or forwarded. The checker walks the value with an explicit stack: a value nested 10,000
 * deep costs it no call stack, and it stops at the first bound broken.
 *
 * Why these numbers: the DM messages of docs/protocol.md §3 nest at most 5 deep and carry at most
 * 64 fields; the REST body of §5 carries up to 5,000 devices (3 values each); IBM's broker took
 * messages up to 128 KiB, as our embedded broker does. Stored values must stay serialisable by
 * JSON.stringify (recursive) when Node-RED flushes its context.
 */

export const BOUNDS = {
  /** nesting of objects and arrays in one message */
  depth: 16,
  /** keys of one object */
  keysPerObject: 128,
  /** items of one array (the REST body's 5,000 devices) */
  itemsPerArray: 5000,
  /** characters of one key */
  keyLength: 256,
  /** characters of one string (a diag log's `data`, docs/protocol.md §3.5) */
  stringLength: 131072,
  /** values (objects, arrays, strings, numbers...) in one message (the 5,000-device REST body is ~15,000) */
  valuesPerMessage: 20000,
  /** bytes of one inbound MQTT payload, refused before it is parsed */
  payloadBytes: 262144,
  /** characters of a field name in update / observe / cancel / notify */
  fieldName: 256,
  /** fields of one update / observe / cancel, of one notify and of one custom action */
  fieldsPerUpdate: 16,
  fieldsPerNotify: 64,
  /** parameters of one REST request, and the characters of all their values together */
  parametersPerRequest: 64,
  parametersChars: 65536,
  /** serialised `d.metadata` of a device (raisable on iotdm-platform) */
  metadataBytes: 16384,
  /** serialised deviceInfo and mgmt.firmware of a device */
  deviceInfoBytes: 16384,
  firmwareBytes: 16384,
  /** serialised diag log of a device: the oldest entries go first (and at most 100 entries) */
  logBytes: 262144,
  /** characters of a key or path quoted back in an error text */
  excerpt: 40,
} as const;

export type Bounds = { -readonly [K in keyof typeof BOUNDS]: number };

export class BoundsError extends Error {
  readonly rc = 400;
  constructor(
    message: string,
    /** which bound: depth, keysPerObject, ... */
    readonly bound: keyof Bounds,
  ) {
    super(message);
    this.name = 'BoundsError';
  }
}

/**
 * A sender-chosen text (a key, a path, a client id) as it may appear in an error text or a log
 * line: control characters escaped as \uXXXX (a payload must not split or forge a log line), cut to
 * `max` characters with "…".
 */
export function excerpt(text: unknown, max: number = BOUNDS.excerpt): string {
  const s = typeof text === 'string' ? text : String(text);
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A JSON-pointer-like path for error texts, each segment an excerpt, the whole capped. */
function pathText(path: (string | number)[]): string {
  const parts = path.slice(0, 6).map((p) => (typeof p === 'number' ? String(p) : excerpt(p, 24)));
  return '/' + parts.join('/') + (path.length > 6 ? '/…' : '');
}

/** The bounds with the defaults filled in, once per bounds object (the platform passes the same one every message). */
const filled = new WeakMap<Partial<Bounds>, Bounds>();
function fill(bounds: Partial<Bounds>): Bounds {
  let b = filled.get(bounds);
  if (!b) filled.set(bounds, (b = { ...BOUNDS, ...bounds }));
  return b;
}

/**
 * Hold a parsed value to the bounds; throws a BoundsError naming the first bound broken (with a
 * short escaped excerpt of the path, never the offending text). Iterative: no recursion. Every
 * inbound message passes here, so a first walk only answers "within or not", allocating nothing
 * for leaves and no paths; a value it doubts is walked again by firstBreak, which names the bound.
 */
export function checkBounds(value: unknown, bounds: Partial<Bounds> = {}): void {
  const b = fill(bounds);
  if (!within(value, b)) firstBreak(value, b);
}

/**
 * The stacks of `within`, reused: it runs for every inbound message and never re-enters itself. Their
 * length is never set back (that gives their storage up, to be allocated again by the next message):
 * `top` says how much is in use, and a slot is emptied as it is taken.
 */
const pending: (object | undefined)[] = [];
const depths: number[] = [];
let top = 0;

/** A string within its bound; an object or array is pushed to be walked at `depth + 1`. */
function leafWithin(item: unknown, depth: number, b: Bounds): boolean {
  if (typeof item === 'string') return item.length <= b.stringLength;
  if (item !== null && typeof item === 'object') {
    pending[top] = item;
    depths[top++] = depth + 1;
  }
  return true;
}

/** True when `value` breaks none of the bounds (the conditions of firstBreak, without its paths). */
function within(value: unknown, b: Bounds): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'string' || value.length <= b.stringLength;
  const ok = walkWithin(value, b);
  // nothing of this message stays reachable from the reused stacks
  while (top > 0) pending[--top] = undefined;
  return ok;
}

function walkWithin(value: object, b: Bounds): boolean {
  pending[0] = value;
  depths[0] = 0;
  top = 1;
  let values = 1;
  while (top > 0) {
    const v = pending[--top] as Record<string, unknown>;
    pending[top] = undefined;
    const depth = depths[top];
    if (depth >= b.depth) return false;
    if (Array.isArray(v)) {
      if (v.length > b.itemsPerArray) return false;
      values += v.length;
      for (let i = 0; i < v.length; i++) if (!leafWithin(v[i] as unknown, depth, b)) return false;
    } else {
      let n = 0;
      // for...in allocates no list of keys; JSON.parse makes plain objects with own keys only
      for (const k in v) {
        if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
        if (++n > b.keysPerObject || k.length > b.keyLength) return false;
        if (!leafWithin(v[k], depth, b)) return false;
      }
      values += n;
    }
    if (values > b.valuesPerMessage) return false;
  }
  return true;
}

/** Walk `value` with the path of each nested value and throw at the first bound broken. */
function firstBreak(value: unknown, b: Bounds): void {
  // the stack holds [value, depth, path]; the path is only built for values that nest
  const stack: [unknown, number, (string | number)[]][] = [[value, 0, []]];
  let values = 0;
  while (stack.length > 0) {
    const [v, depth, path] = stack.pop()!;
    if (++values > b.valuesPerMessage) throw new BoundsError(`more than ${b.valuesPerMessage} values in one message`, 'valuesPerMessage');
    if (typeof v === 'string') {
      if (v.length > b.stringLength) throw new BoundsError(`${pathText(path)}: string longer than ${b.stringLength} characters`, 'stringLength');
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= b.depth) throw new BoundsError(`${pathText(path)}: nested deeper than ${b.depth}`, 'depth');
    if (Array.isArray(v)) {
      if (v.length > b.itemsPerArray) throw new BoundsError(`${pathText(path)}: more than ${b.itemsPerArray} items`, 'itemsPerArray');
      for (let i = v.length - 1; i >= 0; i--) {
        const item = v[i];
        if (item !== null && typeof item === 'object') stack.push([item, depth + 1, [...path, i]]);
        else stack.push([item, depth + 1, path]);
      }
      continue;
    }
    const keys = Object.keys(v);
    if (keys.length > b.keysPerObject) throw new BoundsError(`${pathText(path)}: more than ${b.keysPerObject} keys`, 'keysPerObject');
    for (const k of keys) {
      if (k.length > b.keyLength) throw new BoundsError(`${pathText(path)}: key "${excerpt(k)}" longer than ${b.keyLength} characters`, 'keyLength');
      const item = (v as Record<string, unknown>)[k];
      if (item !== null && typeof item === 'object') stack.push([item, depth + 1, [...path, k]]);
      else stack.push([item, depth + 1, path]);
    }
  }
}

/**
 * The length of a value as JSON, for values that passed checkBounds (their depth is bounded, so
 * JSON.stringify's recursion is safe). Undefined counts 0.
 */
export function jsonLength(value: unknown): number {
  if (value === undefined) return 0;
  return JSON.stringify(value)?.length ?? 0;
}
