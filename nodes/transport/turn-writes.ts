/**
 * Writes gathered per event-loop turn. mqtt.js and mqtt-packet (under aedes too) cork a socket for
 * one packet and uncork it on the next tick, and every inbound packet is handled in a tick of its
 * own, so under load each answer, each forwarded publish and each PUBACK cost a syscall of its own:
 * writev was the first item of the bench's profiles, on both sides of the embedded broker. Corked
 * until the end of the turn instead, what a turn writes leaves in one write, in the same order.
 */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<Corkable>();

/** Hold what `stream` is written until the end of this turn (setImmediate). */
export function corkForTurn(stream: Corkable): void {
  if (corked.has(stream)) return;
  stream.cork();
  corked.add(stream);
  setImmediate(() => {
    corked.delete(stream);
    stream.uncork(); // a stream destroyed meanwhile ignores it
  });
}

/** From now on, whatever is written to `socket` joins the other writes of its turn. */
export function gatherWritesPerTurn<S extends Corkable & { write: (...args: never[]) => boolean }>(socket: S): void {
  const write = socket.write;
  socket.write = function (this: S, ...args: Parameters<S['write']>): boolean {
    corkForTurn(this);
    return write.apply(this, args);
  } as S['write'];
}
