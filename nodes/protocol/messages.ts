/**
 * Every DM message as a TypeScript type with its JSON Schema (docs/protocol.md §1.1, §3).
 *
 * Schemas accept what real clients send (docs/protocol.md §1.4, §3.1, §3.7): rc as a number or numeric
 * string, supports.* as booleans or 0/1, observe/cancel fields as strings or {field} objects (and
 * cancel's old `d.data`), notify as `d.fields[]` or `d.field`/`d.value`. The `normalize*` helpers
 * turn the tolerated shapes into the one shape the rest of the code uses.
 */
import { ID_PATTERN } from './topics';
import { normalizeRc } from './rc';
import { BOUNDS } from './bounds';

type Schema = Record<string, unknown>;

const REQ_ID = { type: 'string', minLength: 1, maxLength: 256 } as const;
const ID = { type: 'string', pattern: ID_PATTERN } as const;
const BOOLISH = { anyOf: [{ type: 'boolean' }, { enum: [0, 1] }] } as const;
const RC_SCHEMA = {
  anyOf: [
    { type: 'integer', minimum: 100, maximum: 999 },
    { type: 'string', pattern: '^\\s*[1-9][0-9]{2}\\s*$' },
  ],
} as const;
const ISO_OR_EMPTY = { type: 'string', maxLength: 64 } as const;

/** An object with these properties, plus `required`, `anyOf`... as `rest` says. */
function object(properties: Schema, rest: Schema = {}): Schema {
  return { type: 'object', properties, ...rest };
}
/** A DM request: a `reqId` and a `d`, the ones named in `required` required (docs/protocol.md §1.1). */
function dmRequest(d: Schema, required: readonly ('reqId' | 'd')[]): Schema {
  return object({ reqId: REQ_ID, d }, { required: [...required] });
}

// ---------------------------------------------------------------- device → platform

/** The deviceInfo attributes of the device model (docs/protocol.md §4). */
export const DEVICE_INFO_KEYS = [
  'serialNumber',
  'manufacturer',
  'model',
  'deviceClass',
  'description',
  'fwVersion',
  'hwVersion',
  'descriptiveLocation',
] as const;
export type DeviceInfoKey = (typeof DEVICE_INFO_KEYS)[number];
export type DeviceInfo = { [K in DeviceInfoKey]?: string } & { [k: string]: unknown };
export interface Supports {
  deviceActions?: boolean;
  firmwareActions?: boolean;
  /** custom (DME) bundle ids */
  [bundleId: string]: boolean | undefined;
}
export interface ManageRequest {
  reqId?: string;
  d?: {
    metadata?: Record<string, unknown>;
    lifetime?: number;
    supports?: Record<string, boolean | 0 | 1>;
    deviceInfo?: DeviceInfo;
  };
}
const deviceInfoSchema: Schema = {
  type: 'object',
  properties: Object.fromEntries(DEVICE_INFO_KEYS.map((k) => [k, { type: 'string', maxLength: 1024 }])),
};
export const manageSchema = dmRequest(
  object({
    metadata: { type: 'object' },
    lifetime: { type: 'integer', minimum: 0 },
    supports: { type: 'object', additionalProperties: BOOLISH },
    deviceInfo: deviceInfoSchema,
  }),
  ['reqId'],
);

export interface ReqIdOnly {
  reqId: string;
}
export const reqIdOnlySchema: Schema = { type: 'object', properties: { reqId: REQ_ID }, required: ['reqId'] };

export interface Location {
  longitude: number;
  latitude: number;
  elevation?: number;
  accuracy?: number;
  measuredDateTime?: string;
  updatedDateTime?: string;
}
const locationValueSchema: Schema = {
  type: 'object',
  properties: {
    longitude: { type: 'number', minimum: -180, maximum: 180 },
    latitude: { type: 'number', minimum: -90, maximum: 90 },
    elevation: { type: 'number' },
    accuracy: { type: 'number', minimum: 0 },
    measuredDateTime: ISO_OR_EMPTY,
    updatedDateTime: ISO_OR_EMPTY,
  },
  required: ['longitude', 'latitude'],
};
export interface LocationRequest {
  reqId: string;
  d: Location;
}
export const locationSchema = dmRequest(locationValueSchema, ['reqId', 'd']);

export interface AddErrorCodeRequest {
  reqId: string;
  d: { errorCode: number };
}
export const addErrorCodeSchema = dmRequest(object({ errorCode: { type: 'integer' } }, { required: ['errorCode'] }), ['reqId', 'd']);

export interface LogEntry {
  message: string;
  timestamp?: string;
  data?: string;
  severity?: 0 | 1 | 2;
}
export interface AddLogRequest {
  reqId: string;
  d: LogEntry;
}
export const addLogSchema = dmRequest(
  object(
    {
      message: { type: 'string', maxLength: 4096 },
      timestamp: ISO_OR_EMPTY,
      data: { type: 'string', maxLength: 131072 },
      severity: { enum: [0, 1, 2] },
    },
    { required: ['message'] },
  ),
  ['reqId', 'd'],
);

/** A field name: echoed in answers (404 "not found: ..."), so bounded (bounds.ts) */
const FIELD_NAME = { type: 'string', minLength: 1, maxLength: BOUNDS.fieldName } as const;

export interface FieldValue {
  field: string;
  value?: unknown;
}
/** `d.fields`: a list of {field, value?} objects */
function fieldValueList(maxItems: number, requireValue: boolean): Schema {
  return {
    type: 'array',
    minItems: 1,
    maxItems,
    items: { type: 'object', properties: { field: FIELD_NAME }, required: requireValue ? ['field', 'value'] : ['field'] },
  };
}

export interface NotifyRequest {
  reqId?: string;
  d: { fields?: FieldValue[]; field?: string; value?: unknown };
}
export const notifySchema = dmRequest(
  object({ fields: fieldValueList(BOUNDS.fieldsPerNotify, true), field: FIELD_NAME }, { anyOf: [{ required: ['fields'] }, { required: ['field', 'value'] }] }),
  ['d'],
);
/** The notify's field changes in the `fields[]` shape, whichever shape it came in. */
export function notifyFields(n: NotifyRequest): FieldValue[] {
  if (Array.isArray(n.d.fields)) return n.d.fields;
  return [{ field: n.d.field as string, value: n.d.value }];
}

export interface DmResponse {
  reqId: string;
  rc: number;
  message?: string;
  d?: { fields?: unknown[] };
}
export const responseSchema: Schema = {
  type: 'object',
  properties: {
    reqId: REQ_ID,
    rc: RC_SCHEMA,
    message: { type: ['string', 'null'], maxLength: 4096 },
    d: { type: ['object', 'null'] },
  },
  required: ['reqId', 'rc'],
};
/** A response as it passed responseSchema: rc may still be a numeric string, message and d null. */
export interface WireResponse {
  reqId: string;
  rc: number | string;
  message?: string | null;
  d?: Record<string, unknown> | null;
}
/** The response with rc as an integer (rc passed the schema). */
export function normalizeResponse(r: WireResponse): DmResponse {
  const out: DmResponse = { reqId: r.reqId, rc: normalizeRc(r.rc) as number };
  if (typeof r.message === 'string' && r.message !== '') out.message = r.message;
  if (r.d && typeof r.d === 'object') out.d = r.d as DmResponse['d'];
  return out;
}

/** supports.* with 0/1 read as booleans (docs/protocol.md §3.1). */
export function normalizeSupports(s: Record<string, unknown> | undefined): Supports {
  const out: Supports = {};
  if (!s) return out;
  // for...in: no list of pairs for every manage (the schema made `s` a plain object of own keys)
  for (const k in s) if (Object.hasOwn(s, k)) out[k] = s[k] === true || s[k] === 1;
  return out;
}

// ---------------------------------------------------------------- platform → device

export interface FirmwareAttributes {
  version: string;
  name: string;
  uri: string;
  verifier: string;
  state: number;
  updateStatus: number;
  updatedDateTime: string;
}
export const FIRMWARE_KEYS: (keyof FirmwareAttributes)[] = ['version', 'name', 'uri', 'verifier', 'state', 'updateStatus', 'updatedDateTime'];
export const firmwareValueSchema: Schema = {
  type: 'object',
  properties: {
    version: { type: 'string', maxLength: 1024 },
    name: { type: 'string', maxLength: 1024 },
    uri: { type: 'string', maxLength: 4096 },
    verifier: { type: 'string', maxLength: 1024 },
    state: { enum: [0, 1, 2] },
    updateStatus: { enum: [0, 1, 2, 3, 4, 5, 6] },
    updatedDateTime: ISO_OR_EMPTY,
  },
};

export interface UpdateRequest {
  reqId?: string;
  d: { fields: FieldValue[] };
}
export const updateSchema = dmRequest(object({ fields: fieldValueList(BOUNDS.fieldsPerUpdate, false) }, { required: ['fields'] }), ['d']);

export interface ObserveRequest {
  reqId: string;
  d: { fields?: (string | { field: string })[]; data?: (string | { field: string })[] };
}
const FIELD_LIST = {
  type: 'array',
  minItems: 1,
  maxItems: BOUNDS.fieldsPerUpdate,
  items: {
    anyOf: [FIELD_NAME, { type: 'object', properties: { field: FIELD_NAME }, required: ['field'] }],
  },
};
export const observeSchema = dmRequest(object({ fields: FIELD_LIST, data: FIELD_LIST }, { anyOf: [{ required: ['fields'] }, { required: ['data'] }] }), [
  'reqId',
  'd',
]);
/** Field names of an observe or cancel, whatever shape they came in. */
export function observedFields(r: ObserveRequest): string[] {
  const list = r.d.fields ?? r.d.data ?? [];
  return list.map((f) => (typeof f === 'string' ? f : f.field));
}

export interface CustomActionRequest {
  reqId: string;
  d?: { fields?: FieldValue[] };
}
export const customActionSchema = dmRequest(
  object({
    fields: {
      type: 'array',
      maxItems: BOUNDS.fieldsPerNotify,
      items: object({ field: { type: 'string', maxLength: BOUNDS.fieldName } }, { required: ['field'] }),
    },
  }),
  ['reqId'],
);

// ---------------------------------------------------------------- the REST body (docs/protocol.md §5)

export const MAX_DEVICES = 5000;
export const ACTIONS = ['device/reboot', 'device/factoryReset', 'firmware/download', 'firmware/update'] as const;
export type StandardAction = (typeof ACTIONS)[number];
export const FIRMWARE_PARAMETERS = ['uri', 'name', 'verifier', 'version'] as const;

export interface Parameter {
  name: string;
  value: string;
}
export interface MgmtRequestBody {
  action: string;
  devices: { typeId: string; deviceId: string }[];
  parameters?: Parameter[];
  /** seconds; our extension (the name of IBM's field is not known, docs/protocol.md §5) */
  timeout?: number;
}
export const mgmtRequestBodySchema: Schema = {
  type: 'object',
  properties: {
    action: {
      type: 'string',
      // the four standard actions, or a custom `bundleId/actionId` outside their namespaces
      anyOf: [{ enum: [...ACTIONS] }, { pattern: '^[A-Za-z0-9_.-]{1,255}/[A-Za-z0-9_.-]{1,255}$', not: { pattern: '^(device|firmware)/' } }],
    },
    devices: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_DEVICES,
      items: {
        type: 'object',
        properties: { typeId: ID, deviceId: ID },
        required: ['typeId', 'deviceId'],
        additionalProperties: false,
      },
    },
    parameters: {
      type: 'array',
      maxItems: BOUNDS.parametersPerRequest,
      items: {
        type: 'object',
        properties: { name: { type: 'string', minLength: 1, maxLength: 255 }, value: { type: 'string', maxLength: 4096 } },
        required: ['name', 'value'],
        additionalProperties: false,
      },
    },
    timeout: { type: 'number', exclusiveMinimum: 0, maximum: 604800 },
  },
  required: ['action', 'devices'],
  additionalProperties: false,
};
