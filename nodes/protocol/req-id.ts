/**
 * The reqId of a message that failed to parse or to validate, so that the sender still gets its
 * 400 (docs/protocol.md §7). Both sides answer invalid requests this way.
 */

/** the longest reqId we echo back */
export const MAX_REQ_ID_LENGTH = 256;

/**
 * `body`: the parsed payload, or undefined when it did not parse; `text`: the payload as received.
 * A parsed object gives its own top-level reqId (a string of 1..256, else none); only a payload
 * that is not an object is searched as text, for a `"reqId":"..."` pair.
 */
export function readReqId(body: unknown, text: string): string | undefined {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const r = (body as { reqId?: unknown }).reqId;
    return typeof r === 'string' && r.length > 0 && r.length <= MAX_REQ_ID_LENGTH ? r : undefined;
  }
  const m = /"reqId"\s*:\s*"([^"\\]{1,256})"/.exec(text);
  return m ? m[1] : undefined;
}
