/**
 * One ajv instance and the compiled validators for every DM message (messages.ts).
 * `check(name, data)` returns the value typed as the message `name` names (MessageTypes), or throws
 * a ValidationError with a readable text; `isValid(name, data)` is the same test as a type guard.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import * as M from './messages';
import { errorPaths, errorsText } from './error-text';
import { BOUNDS, BoundsError, checkBounds, excerpt, jsonLength, type Bounds } from './bounds';

const ajv = new Ajv({ allErrors: false, strict: false });

const schemas = {
  manage: M.manageSchema,
  unmanage: M.reqIdOnlySchema,
  location: M.locationSchema,
  addErrorCode: M.addErrorCodeSchema,
  clearErrorCodes: M.reqIdOnlySchema,
  addLog: M.addLogSchema,
  clearLog: M.reqIdOnlySchema,
  notify: M.notifySchema,
  response: M.responseSchema,
  update: M.updateSchema,
  observe: M.observeSchema,
  cancel: M.observeSchema,
  initiate: M.reqIdOnlySchema,
  custom: M.customActionSchema,
  firmwareValue: M.firmwareValueSchema,
  mgmtRequestBody: M.mgmtRequestBodySchema,
} as const;
export type SchemaName = keyof typeof schemas;

/** What a value that passed each schema is: one entry per schema, so no caller names a type. */
export interface MessageTypes {
  manage: M.ManageRequest & M.ReqIdOnly;
  unmanage: M.ReqIdOnly;
  location: M.LocationRequest;
  addErrorCode: M.AddErrorCodeRequest;
  clearErrorCodes: M.ReqIdOnly;
  addLog: M.AddLogRequest;
  clearLog: M.ReqIdOnly;
  notify: M.NotifyRequest;
  /** rc as the device sent it (a number or a numeric string): normalizeResponse makes it a number */
  response: M.WireResponse;
  update: M.UpdateRequest;
  observe: M.ObserveRequest;
  cancel: M.ObserveRequest;
  initiate: M.ReqIdOnly;
  custom: M.CustomActionRequest;
  firmwareValue: Partial<M.FirmwareAttributes>;
  mgmtRequestBody: M.MgmtRequestBody;
}
// every schema has its type and every type its schema
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _everySchemaTyped: Same<SchemaName, keyof MessageTypes> = true;
void _everySchemaTyped;

const validators = new Map<string, ValidateFunction>();
export function validator(name: SchemaName): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    v = ajv.compile(schemas[name]);
    validators.set(name, v);
  }
  return v;
}

/** Compile a schema that lives outside this file (node input messages) on the shared instance. */
export function compile<T>(schema: Record<string, unknown>): (data: unknown) => T {
  const v = ajv.compile(schema);
  return (data: unknown) => {
    if (!v(data)) throw new ValidationError(formatErrors(v.errors), v.errors ?? []);
    return data as T;
  };
}

export class ValidationError extends Error {
  readonly rc = 400;
  /** the validator's path of each error (JSON pointers, "" for the whole value), for tools */
  readonly paths: string[];
  constructor(
    message: string,
    readonly errors: ErrorObject[] = [],
  ) {
    super(message);
    this.name = 'ValidationError';
    this.paths = errorPaths(errors);
  }
}

/**
 * The schema errors as a short text in words (nodes/protocol/error-text.ts). The path of an error
 * is made of the sender's keys: it is quoted as an escaped excerpt, never whole (a 60,000-character
 * key must not come back in the answer).
 */
export function formatErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errorsText(errors);
}

export function isValid<N extends SchemaName>(name: N, data: unknown): data is MessageTypes[N] {
  return validator(name)(data) === true;
}

export function check<N extends SchemaName>(name: N, data: unknown): MessageTypes[N] {
  if (name === 'mgmtRequestBody') checkRequestBody(data);
  if (isValid(name, data)) return data;
  const errors = validator(name).errors;
  throw new ValidationError(formatErrors(errors), errors ?? []);
}

/**
 * The REST body (docs/protocol.md §5) within the bounds: whatever its source (the HTTP API, a
 * flow's msg.payload), and the parameters small enough that the initiate carrying them fits the
 * broker's message limit.
 */
function checkRequestBody(data: unknown): void {
  withinBounds(data);
  const params = (data as { parameters?: unknown } | null)?.parameters;
  if (!Array.isArray(params)) return;
  let chars = 0;
  for (const p of params) {
    const v = (p as { value?: unknown } | null)?.value;
    if (typeof v === 'string') chars += v.length;
  }
  if (chars > BOUNDS.parametersChars) {
    throw new ValidationError(`/parameters: values of more than ${BOUNDS.parametersChars} characters together`);
  }
}

/** checkBounds, its failure as a ValidationError (the protocol's 400). */
export function withinBounds(data: unknown, bounds?: Partial<Bounds>): void {
  try {
    checkBounds(data, bounds);
  } catch (err) {
    if (err instanceof BoundsError) throw new ValidationError(err.message);
    throw err;
  }
}

/** A part of a device's stored record (metadata, deviceInfo...) no larger than `max` bytes as JSON, else the protocol's 400. */
export function storedWithin(what: string, value: unknown, max: number): void {
  const n = jsonLength(value);
  if (n > max) throw new ValidationError(`${what} is ${n} bytes as JSON, more than ${max}`);
}

/**
 * Parse an MQTT payload as JSON and hold it to the bounds (bounds.ts): a payload larger than
 * BOUNDS.payloadBytes is refused unparsed. IBM's embedded C clients send firmware responses with an
 * unquoted reqId (`{"rc":202,"reqId":7b24-...}`, docs/protocol.md §7.14): that one defect is repaired,
 * nothing else.
 */
export function parsePayload(payload: Buffer | string, bounds?: Partial<Bounds>): unknown {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const max = bounds?.payloadBytes ?? BOUNDS.payloadBytes;
  if (size > max) throw new ValidationError(`payload of ${size} bytes, more than ${max}`);
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  const data = parseJson(text);
  withinBounds(data, bounds);
  return data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const repaired = text.replace(/("reqId"\s*:\s*)([A-Za-z0-9_.:-]+)(\s*[,}])/, '$1"$2"$3');
    if (repaired !== text) {
      try {
        return JSON.parse(repaired);
      } catch {
        /* fall through */
      }
    }
    // V8's text quotes the start of the payload: escaped and capped here
    throw new ValidationError(`payload is not JSON: ${excerpt((err as Error).message, 100)}`);
  }
}
