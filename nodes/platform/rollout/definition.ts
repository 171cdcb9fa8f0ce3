/**
 * A rollout definition: one management action over a fleet of any size, in waves, paced, gated,
 * with abort rules, retries, maintenance windows and verified firmware success. The JSON schema
 * bounds every field (ranges and defaults are in the help pages, locales/<lang>/rollout.html, and in
 * the comments below); `checkDefinition` validates with the project's ajv instance and the rules a
 * schema cannot say (one of devices/select, verify only for firmware/update with a version, a real
 * time zone). The management request each wave sends is the v0002 body (docs/protocol.md §5).
 */
import { compile, ValidationError } from '../../protocol/validate';
import { ID_PATTERN, deviceKey, type DeviceRef } from '../../protocol/topics';
import { mgmtRequestBodySchema, type Parameter } from '../../protocol/messages';

/** explicit device lists: at most this many devices */
export const MAX_LISTED_DEVICES = 100_000;
/** a selection from the registry: at most this many devices */
export const MAX_SELECTED_DEVICES = 1_000_000;
export const MAX_WAVES = 10_000;
export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Day = (typeof DAYS)[number];

export interface WaveSpec {
  /** devices in the wave, 1–1,000,000 */
  size?: number;
  /** percent of the target in the wave, >0–100 */
  percent?: number;
  /** this wave's gate instead of the rollout's */
  gate?: Gate;
}
/** What lets the next wave start once a wave is finished (none: it starts at once). */
export interface Gate {
  /** 0–100: go on when this percentage of the wave succeeded, else pause */
  successPercent?: number;
  /** true: wait for an approve command */
  approval?: boolean;
  /** 0–604,800,000 ms: wait this long */
  waitMs?: number;
}
export interface Ramp {
  /** 1.1–5: the rate is multiplied by this ... */
  factor: number;
  /** ... after every this many devices (1–1,000,000) ... */
  every: number;
  /** ... notified (launched, default) or succeeded */
  on?: 'notified' | 'succeeded';
  /** 1–1,000,000 devices a minute: the ramp stops here (default 1,000,000) */
  maxPerMinute?: number;
}
export interface Rate {
  /** 1–1,000,000 devices a minute (none: as fast as the engine takes them) */
  perMinute?: number;
  ramp?: Ramp;
  /** 1–1,000,000 devices of this rollout in flight at most (none: no cap beyond the engine's) */
  maxInFlight?: number;
}
export type FailureType = 'failure' | 'timedOut' | 'any';
export interface AbortRule {
  type: FailureType;
  /** 0–100: abort when this percentage of the executed devices ended so */
  percent: number;
  /** 1–1,000,000 executed devices before the rule applies (default 1) */
  minExecuted?: number;
}
export interface RetryPolicy {
  /** 0–10 more attempts */
  count: number;
  /** 0–86,400,000 ms before the first retry (default 1,000) */
  backoffMs?: number;
  /** 1–10: each later retry waits this many times longer (default 2) */
  factor?: number;
}
export interface Retries {
  failure?: RetryPolicy;
  timedOut?: RetryPolicy;
}
export interface Window {
  /** ISO 8601 date and time: nothing is launched before it */
  start?: string;
  /** IANA time zone of days and hours (default UTC) */
  timeZone?: string;
  /** allowed days (default every day) */
  days?: Day[];
  /** allowed hours, "HH:MM" to "HH:MM" (to before from spans midnight); default all day */
  hours?: { from: string; to: string }[];
  /** at the end of a window: stop launching (default) or also cancel the devices in flight (they run again in the next window) */
  onEnd?: 'stop' | 'cancel';
}
export interface Verify {
  /** 1–604,800,000 ms to wait for the device's next manage (default 600,000) */
  timeoutMs?: number;
}
export interface Selection {
  /** one type or a list of types (at most 100) */
  typeId?: string | string[];
  /** deviceInfo fields that must be equal */
  deviceInfo?: Record<string, string>;
  /** metadata fields that must be equal (top-level, string, number or boolean) */
  metadata?: Record<string, string | number | boolean>;
  /** only devices whose deviceInfo.fwVersion is not this */
  fwVersionNot?: string;
  /** only managed devices that support the action (default true) */
  supportsAction?: boolean;
}
export interface RolloutDefinition {
  name?: string;
  action: string;
  parameters?: Parameter[];
  devices?: DeviceRef[];
  select?: Selection;
  waves: WaveSpec | WaveSpec[];
  gate?: Gate;
  rate?: Rate;
  abort?: AbortRule[];
  retries?: Retries;
  window?: Window;
  verify?: Verify;
  /** seconds each management request may run, 1–604,800 (default the platform's) */
  timeout?: number;
}

const ID = { type: 'string', pattern: ID_PATTERN };
const body = mgmtRequestBodySchema as { properties: Record<string, unknown> };
const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum });
const num = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum });
const HHMM = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' };
const SHORT = { type: 'string', minLength: 1, maxLength: 256 };

const gateSchema = {
  type: 'object',
  properties: { successPercent: num(0, 100), approval: { const: true }, waitMs: int(0, 604_800_000) },
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
};
const waveSchema = {
  type: 'object',
  properties: { size: int(1, MAX_SELECTED_DEVICES), percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 }, gate: gateSchema },
  additionalProperties: false,
  oneOf: [{ required: ['size'] }, { required: ['percent'] }],
};
const retrySchema = {
  type: 'object',
  properties: { count: int(0, 10), backoffMs: int(0, 86_400_000), factor: num(1, 10) },
  required: ['count'],
  additionalProperties: false,
};

export const rolloutDefinitionSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 128 },
    action: body.properties.action,
    parameters: body.properties.parameters,
    devices: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_LISTED_DEVICES,
      items: { type: 'object', properties: { typeId: ID, deviceId: ID }, required: ['typeId', 'deviceId'], additionalProperties: false },
    },
    select: {
      type: 'object',
      properties: {
        typeId: { anyOf: [ID, { type: 'array', items: ID, minItems: 1, maxItems: 100 }] },
        deviceInfo: { type: 'object', maxProperties: 16, additionalProperties: SHORT, propertyNames: { maxLength: 64 } },
        metadata: {
          type: 'object',
          maxProperties: 16,
          additionalProperties: { anyOf: [SHORT, { type: 'number' }, { type: 'boolean' }] },
          propertyNames: { maxLength: 64 },
        },
        fwVersionNot: SHORT,
        supportsAction: { type: 'boolean' },
      },
      additionalProperties: false,
    },
    waves: { anyOf: [waveSchema, { type: 'array', items: waveSchema, minItems: 1, maxItems: 100 }] },
    gate: gateSchema,
    rate: {
      type: 'object',
      properties: {
        perMinute: int(1, 1_000_000),
        ramp: {
          type: 'object',
          properties: { factor: num(1.1, 5), every: int(1, 1_000_000), on: { enum: ['notified', 'succeeded'] }, maxPerMinute: int(1, 1_000_000) },
          required: ['factor', 'every'],
          additionalProperties: false,
        },
        maxInFlight: int(1, 1_000_000),
      },
      additionalProperties: false,
    },
    abort: {
      type: 'array',
      maxItems: 3,
      items: {
        type: 'object',
        properties: { type: { enum: ['failure', 'timedOut', 'any'] }, percent: num(0, 100), minExecuted: int(1, 1_000_000) },
        required: ['type', 'percent'],
        additionalProperties: false,
      },
    },
    retries: { type: 'object', properties: { failure: retrySchema, timedOut: retrySchema }, additionalProperties: false },
    window: {
      type: 'object',
      properties: {
        start: { type: 'string', maxLength: 64 },
        timeZone: { type: 'string', minLength: 1, maxLength: 64 },
        days: { type: 'array', items: { enum: [...DAYS] }, minItems: 1, maxItems: 7, uniqueItems: true },
        hours: {
          type: 'array',
          minItems: 1,
          maxItems: 8,
          items: { type: 'object', properties: { from: HHMM, to: HHMM }, required: ['from', 'to'], additionalProperties: false },
        },
        onEnd: { enum: ['stop', 'cancel'] },
      },
      additionalProperties: false,
    },
    verify: { type: 'object', properties: { timeoutMs: int(1, 604_800_000) }, additionalProperties: false },
    timeout: { type: 'number', exclusiveMinimum: 0, maximum: 604_800 },
  },
  required: ['action', 'waves'],
  additionalProperties: false,
};

const validate = compile<RolloutDefinition>(rolloutDefinitionSchema);

/** The firmware version a definition sends (its `version` parameter). */
export function versionOf(def: RolloutDefinition): string | undefined {
  return def.parameters?.find((p) => p.name === 'version')?.value;
}

/** Validate an untrusted definition; throws a ValidationError (rc 400) with a readable text. */
export function checkDefinition(input: unknown): RolloutDefinition {
  const def = validate(input);
  if (!def.devices === !def.select) throw new ValidationError('give either devices or select, not both');
  if (def.devices) {
    const seen = new Set<string>();
    for (const d of def.devices) {
      const k = deviceKey(d);
      if (seen.has(k)) throw new ValidationError(`device ${k} is listed twice`);
      seen.add(k);
    }
  }
  const names = new Set<string>();
  for (const p of def.parameters ?? []) {
    if (names.has(p.name)) throw new ValidationError(`parameter "${p.name}" given twice`);
    names.add(p.name);
  }
  if (def.verify && (def.action !== 'firmware/update' || !versionOf(def))) {
    throw new ValidationError('verify needs the action firmware/update with a version parameter');
  }
  const w = def.window;
  if (w?.start !== undefined && !Number.isFinite(Date.parse(w.start))) throw new ValidationError('/window/start is not an ISO 8601 date and time');
  if (w?.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: w.timeZone });
    } catch {
      throw new ValidationError(`/window/timeZone "${w.timeZone}" is not a known time zone`);
    }
  }
  for (const h of w?.hours ?? []) if (h.from === h.to) throw new ValidationError('/window/hours: from and to are equal');
  return def;
}
