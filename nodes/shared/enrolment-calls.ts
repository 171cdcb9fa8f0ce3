/**
 * The enrolment calls in one shape for every door: the HTTP API in IBM's shape
 * (`POST {root}/bulk/devices/add|remove`, `GET {root}/device/types/{typeId}/devices/{deviceId}`),
 * the flow (`mgmt-request` with msg.topic `enrol`, `unenrol`, `enrolment`, `apikey`) and the sidebar.
 * Each answers an HTTP status and a body; the tokens of an add are in its answer, once.
 */
import { isValidId } from '../protocol/topics';
import type { Enrolment, EnrolmentOrigin, EntryResult, EntryError } from '../platform/enrolment';

/** Messages: keys under `iotdm-platform.enrolment.` in the catalogues. */
export type EnrolmentText = (key: EntryError | 'invalid-body' | 'not-found' | 'invalid-role', vars?: Record<string, string | number>) => string;

export interface EnrolmentAnswer {
  statusCode: number;
  payload: unknown;
}

export const ENROLMENT_TOPICS = ['enrol', 'unenrol', 'enrolment', 'apikey'] as const;
export type EnrolmentTopic = (typeof ENROLMENT_TOPICS)[number];

function withMessages(results: EntryResult[], t: EnrolmentText) {
  return results.map((r) => (r.success ? r : { typeId: r.typeId, deviceId: r.deviceId, success: false, error: r.error, message: t(r.error!) }));
}

/** Bulk add: 201 when every entry was enrolled, 202 when some were not, 400 for a body that is not a list. */
export async function enrol(enrolment: Enrolment, body: unknown, origin: EnrolmentOrigin, t: EnrolmentText): Promise<EnrolmentAnswer> {
  const list = body && typeof body === 'object' && !Array.isArray(body) ? [body] : body;
  let results: EntryResult[];
  try {
    results = await enrolment.add(list, origin);
  } catch (err) {
    if (err instanceof TypeError) return { statusCode: 400, payload: { message: t('invalid-body') } };
    throw err;
  }
  return { statusCode: results.every((r) => r.success) ? 201 : 202, payload: withMessages(results, t) };
}

/** Bulk remove: 200 when every entry was removed, 202 when some were not. */
export function unenrol(enrolment: Enrolment, body: unknown, t: EnrolmentText): EnrolmentAnswer {
  const list = body && typeof body === 'object' && !Array.isArray(body) ? [body] : body;
  try {
    const results = enrolment.remove(list);
    return { statusCode: results.every((r) => r.success) ? 200 : 202, payload: withMessages(results, t) };
  } catch (err) {
    if (err instanceof TypeError) return { statusCode: 400, payload: { message: t('invalid-body') } };
    throw err;
  }
}

/** One enrolment `{typeId, deviceId}` (404 when not enrolled), or every one (`{typeId?}` or nothing). */
export function enrolmentOf(enrolment: Enrolment, query: unknown, t: EnrolmentText): EnrolmentAnswer {
  const q = (query && typeof query === 'object' ? query : {}) as Record<string, unknown>;
  if (q.deviceId !== undefined) {
    if (!isValidId(q.typeId) || !isValidId(q.deviceId)) return { statusCode: 400, payload: { message: t('invalid-id') } };
    const e = enrolment.get({ typeId: q.typeId, deviceId: q.deviceId });
    return e ? { statusCode: 200, payload: e } : { statusCode: 404, payload: { message: t('not-found', { device: `${q.typeId}:${q.deviceId}` }) } };
  }
  if (q.typeId !== undefined && !isValidId(q.typeId)) return { statusCode: 400, payload: { message: t('invalid-id') } };
  return { statusCode: 200, payload: { results: enrolment.list({ typeId: q.typeId as string | undefined }) } };
}

/** A new application key `{role: "readonly" | "operator"}`: 201 `{key, token, role}`, the token shown once. */
export async function addApiKey(enrolment: Enrolment, body: unknown, t: EnrolmentText): Promise<EnrolmentAnswer> {
  const role = (body && typeof body === 'object' ? (body as Record<string, unknown>).role : undefined) ?? 'readonly';
  if (role !== 'readonly' && role !== 'operator') return { statusCode: 400, payload: { message: t('invalid-role') } };
  try {
    return { statusCode: 201, payload: await enrolment.addApiKey(role) };
  } catch (err) {
    if (err instanceof RangeError) return { statusCode: 409, payload: { message: t('full') } };
    throw err;
  }
}

/** The flow's door: one of ENROLMENT_TOPICS with msg.payload. */
export function enrolmentCall(enrolment: Enrolment, topic: EnrolmentTopic, payload: unknown, t: EnrolmentText): Promise<EnrolmentAnswer> {
  switch (topic) {
    case 'enrol':
      return enrol(enrolment, payload, 'flow', t);
    case 'unenrol':
      return Promise.resolve(unenrol(enrolment, payload, t));
    case 'enrolment':
      return Promise.resolve(enrolmentOf(enrolment, payload, t));
    case 'apikey':
      return addApiKey(enrolment, payload, t);
  }
}
