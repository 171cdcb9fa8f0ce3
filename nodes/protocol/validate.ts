/**
 * One ajv instance and the compiled validators for every DM message (messages.ts).
 * `check(name, data)` returns the value typed as the message `name` names (MessageTypes), or throws
 * a ValidationError with a readable text; `isValid(name, data)` is the same test as a type guard.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import * as M from './messages';

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
  constructor(
    message: string,
    readonly errors: ErrorObject[] = [],
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

export function formatErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors
    .slice(0, 3)
    .map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params && 'allowedValues' in e.params ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : ''}`)
    .join('; ');
}

export function isValid<N extends SchemaName>(name: N, data: unknown): data is MessageTypes[N] {
  return validator(name)(data) === true;
}

export function check<N extends SchemaName>(name: N, data: unknown): MessageTypes[N] {
  if (isValid(name, data)) return data;
  const errors = validator(name).errors;
  throw new ValidationError(formatErrors(errors), errors ?? []);
}

/**
 * Parse an MQTT payload as JSON. IBM's embedded C clients send firmware responses with an unquoted
 * reqId (`{"rc":202,"reqId":7b24-...}`, protocol.md §7): that one defect is repaired, nothing else.
 */
export function parsePayload(payload: Buffer | string): unknown {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
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
    throw new ValidationError(`payload is not JSON: ${(err as Error).message}`);
  }
}
