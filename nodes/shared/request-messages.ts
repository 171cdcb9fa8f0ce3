/**
 * The typed messages that `mgmt-request` takes and sends, defined once with their JSON Schemas.
 * Query names follow the v0002 management-requests API (docs/protocol.md §5).
 */
import { ID_PATTERN } from '../protocol/topics';
import type { DeviceStatusRow, RequestDetails } from '../platform/management-request';

export const QUERIES = ['list', 'get', 'deviceStatus', 'cancel', 'delete'] as const;
export type QueryName = (typeof QUERIES)[number];

export interface QueryPayload {
  reqId?: string;
  typeId?: string;
  deviceId?: string;
  _bookmark?: string;
  _limit?: number;
}

export const queryPayloadSchema = {
  type: 'object',
  properties: {
    reqId: { type: 'string', minLength: 1, maxLength: 64 },
    typeId: { type: 'string', pattern: ID_PATTERN },
    deviceId: { type: 'string', pattern: ID_PATTERN },
    _bookmark: { type: 'string', maxLength: 256 },
    _limit: { type: 'integer', minimum: 1, maximum: 5000 },
  },
  additionalProperties: false,
} as const;

/** Output 1: one per device, as it finishes. */
export interface DeviceResultPayload extends DeviceStatusRow {
  reqId: string;
  action: string;
}

/** Output 2: one per request, when it completes. */
export type SummaryPayload = RequestDetails & { reqId: string };

/** Output 3: the answer to a launch or a query, in the REST API's shape, with its HTTP status. */
export interface ApiAnswer {
  topic: string;
  statusCode: number;
  payload: unknown;
}
