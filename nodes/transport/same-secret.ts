/**
 * Whether a secret a client gave is the expected one, in a time that tells nothing of either: both
 * are hashed to SHA-256 first, so the comparison is of two 32-byte digests whatever the lengths (a
 * length check before timingSafeEqual would tell an attacker the secret's length). Used by the
 * embedded broker's CONNECT check and the HTTP API's Basic authentication.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: Buffer | string): Buffer => createHash('sha256').update(s).digest();

export function sameSecret(given: Buffer | string | undefined | null, expected: string): boolean {
  if (given === undefined || given === null) return false;
  return timingSafeEqual(digest(given), digest(Buffer.from(expected, 'utf8')));
}
