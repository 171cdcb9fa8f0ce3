/**
 * The enrolment routes of the HTTP API, in IBM's shape (docs/protocol.md §5 covers only the management
 * requests; these follow IBM's v0002 device API):
 *
 *   POST {root}/bulk/devices/add      [{typeId, deviceId, authToken?, classId?, gateway?}]  201 | 202, tokens once
 *   POST {root}/bulk/devices/remove   [{typeId, deviceId}]                                  200 | 202
 *   GET  {root}/device/types/{typeId}/devices/{deviceId}                                     200 | 404
 *
 * Authentication, body reading and error shapes are those of http-api.ts.
 */
import type { Enrolment } from '../platform/enrolment';
import { enrol, enrolmentOf, unenrol, type EnrolmentAnswer, type EnrolmentText } from './enrolment-calls';

export type EnrolmentRoute = 'bulkAdd' | 'bulkRemove' | 'enrolledDevice';

export interface EnrolmentDoor {
  enrolment: Enrolment;
  t: EnrolmentText;
}

/** The route of path levels (after the root), or undefined when it is not an enrolment route. */
export function enrolmentRouteOf(parts: string[]): { name: EnrolmentRoute; allow: string[]; typeId?: string; deviceId?: string } | undefined {
  if (parts.length === 3 && parts[0] === 'bulk' && parts[1] === 'devices') {
    if (parts[2] === 'add') return { name: 'bulkAdd', allow: ['POST'] };
    if (parts[2] === 'remove') return { name: 'bulkRemove', allow: ['POST'] };
    return undefined;
  }
  if (parts.length === 5 && parts[0] === 'device' && parts[1] === 'types' && parts[3] === 'devices') {
    let typeId: string, deviceId: string;
    try {
      typeId = decodeURIComponent(parts[2]);
      deviceId = decodeURIComponent(parts[4]);
    } catch {
      return undefined;
    }
    return { name: 'enrolledDevice', allow: ['GET'], typeId, deviceId };
  }
  return undefined;
}

export async function serveEnrolment(
  route: { name: EnrolmentRoute; typeId?: string; deviceId?: string },
  door: EnrolmentDoor,
  body: unknown,
): Promise<EnrolmentAnswer> {
  switch (route.name) {
    case 'bulkAdd':
      return enrol(door.enrolment, Array.isArray(body) ? body : undefined, 'http', door.t);
    case 'bulkRemove':
      return unenrol(door.enrolment, Array.isArray(body) ? body : undefined, door.t);
    case 'enrolledDevice':
      return enrolmentOf(door.enrolment, { typeId: route.typeId, deviceId: route.deviceId }, door.t);
  }
}
