/**
 * One ajv instance and the compiled validators for every DM message (messages.ts).
 * `check(name, data)` returns the typed value or throws a ValidationError with a readable text.
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

export function check<T>(name: SchemaName, data: unknown): T {
  const v = validator(name);
  if (!v(data)) throw new ValidationError(formatErrors(v.errors), v.errors ?? []);
  return data as T;
}

export function isValid(name: SchemaName, data: unknown): boolean {
  return validator(name)(data) as boolean;
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
