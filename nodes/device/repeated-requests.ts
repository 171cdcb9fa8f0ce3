/**
 * Actions the agent has already been asked, by device and reqId, with the answer it gave: a request
 * that comes again with the same reqId (a QoS 1 redelivery, or a platform asking again after a
 * broker outage or its own restart, docs/protocol.md §5) is answered again with that answer and
 * does not run a second time (a device does not reboot twice for one request). One still running
 * is not answered twice: its answer will come. Bounded: the oldest are forgotten first.
 */
export interface GivenAnswer {
  rc: number;
  message?: string;
  d?: unknown;
}

/** requests remembered per agent (a gateway's fleet of a few thousand, a few actions each) */
const MAX_REMEMBERED = 10_000;

export class RepeatedRequests {
  /** device key + reqId → the answer given, or null while the handler runs */
  private readonly seen = new Map<string, GivenAnswer | null>();

  constructor(private readonly max = MAX_REMEMBERED) {}

  private static id(deviceKey: string, reqId: string): string {
    return `${deviceKey}\n${reqId}`;
  }

  /** undefined: a new request (now remembered as running); null: still running; else its answer */
  seenBefore(deviceKey: string, reqId: string): GivenAnswer | null | undefined {
    const id = RepeatedRequests.id(deviceKey, reqId);
    if (this.seen.has(id)) return this.seen.get(id);
    this.seen.set(id, null);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
    return undefined;
  }

  answered(deviceKey: string, reqId: string, answer: GivenAnswer): void {
    const id = RepeatedRequests.id(deviceKey, reqId);
    if (this.seen.has(id)) this.seen.set(id, answer);
  }
}
