/** Result codes of the DM protocol (docs/protocol.md §3) and their meaning. */
export const RC = {
  OK: 200,
  ACCEPTED: 202,
  CHANGED: 204,
  BAD_REQUEST: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INTERNAL_ERROR: 500,
  NOT_IMPLEMENTED: 501,
} as const;
export type Rc = number;

export const RC_TEXT: Record<number, string> = {
  200: 'success',
  202: 'accepted',
  204: 'changed',
  400: 'bad request',
  403: 'forbidden',
  404: 'not found',
  409: 'conflict',
  500: 'internal error',
  501: 'not implemented',
};

export function isSuccessRc(rc: number): boolean {
  return rc >= 200 && rc < 300;
}

/**
 * Real clients send rc as a number or a numeric string (docs/protocol.md §1.4). Returns the integer, or
 * undefined when the value is neither.
 */
export function normalizeRc(rc: unknown): number | undefined {
  if (typeof rc === 'number' && Number.isInteger(rc)) return rc;
  if (typeof rc === 'string' && /^\s*\d{1,3}\s*$/.test(rc)) return parseInt(rc, 10);
  return undefined;
}

/** Firmware `mgmt.firmware.state` (docs/protocol.md §3.9). */
export const FirmwareState = { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2 } as const;
/** Firmware `mgmt.firmware.updateStatus` (docs/protocol.md §3.9). */
export const UpdateStatus = {
  SUCCESS: 0,
  IN_PROGRESS: 1,
  OUT_OF_MEMORY: 2,
  CONNECTION_LOST: 3,
  VERIFICATION_FAILED: 4,
  UNSUPPORTED_IMAGE: 5,
  INVALID_URI: 6,
} as const;
/**
 * The updateStatus values that end a firmware download or an install as failed, the one list of
 * each for both sides (docs/protocol.md §3.9, §8.6, §8.7): what our device may report (its state
 * machine and its input schema) and what the platform judges a failure of that step.
 * download: 2 out of memory, 3 connection lost, 4 verification failed, 6 invalid URI;
 * install: 2 out of memory, 5 unsupported image.
 */
export const DOWNLOAD_FAILURES: readonly number[] = [
  UpdateStatus.OUT_OF_MEMORY,
  UpdateStatus.CONNECTION_LOST,
  UpdateStatus.VERIFICATION_FAILED,
  UpdateStatus.INVALID_URI,
];
export const INSTALL_FAILURES: readonly number[] = [UpdateStatus.OUT_OF_MEMORY, UpdateStatus.UNSUPPORTED_IMAGE];
export const UPDATE_STATUS_TEXT: Record<number, string> = {
  0: 'success',
  1: 'in progress',
  2: 'out of memory',
  3: 'connection lost',
  4: 'verification failed',
  5: 'unsupported image',
  6: 'invalid URI',
};
