/**
 * A byte stream between two ends in one process, for the platform's own connection to the embedded
 * broker (embedded-broker.ts `openLink`): the same MQTT packets, the same CONNECT, login and session
 * as over TCP, without loopback's system calls, socket buffers and (with TLS) encryption.
 *
 * What one end writes in a turn reaches the other at the end of that turn (setImmediate), in one
 * chunk, as a socket would: never from inside the writer's own call (mqtt.js and aedes are not
 * written to handle their peer's packets while they write), and in batches, as turn-writes.ts
 * gathers a socket's writes. A reader that does not keep up holds the writer: the write callbacks
 * wait until the reader asks for more, so the writer's own buffer fills and it sees `false` and
 * 'drain' as with a socket. Destroying or ending one end ends the other (what was written before
 * is read first); writing to an end that is gone closes the writer.
 */
import { Duplex } from 'node:stream';

type Done = (err?: Error | null) => void;

class LinkEnd extends Duplex {
  peer!: LinkEnd;
  /** what the broker's logs and login throttle name as the peer's address (a socket's remoteAddress) */
  readonly remoteAddress = 'in-process';

  constructor() {
    // like a socket: when the peer ends, this end ends too
    super({ allowHalfOpen: false });
  }

  /** what this end wrote this turn, not yet handed to the peer */
  private chunks: Buffer[] = [];
  /** set when the peer's read buffer was full: write callbacks wait until it reads on */
  private blocked = false;
  private held: Done[] = [];
  /** end() was called: the peer's readable ends after the last chunk */
  private finalDone?: Done;
  private flushing = false;
  /** the end of this side's stream was handed to the peer */
  private sentEnd = false;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: Done): void {
    this.chunks.push(chunk);
    this.accepted(done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: Done): void {
    for (const c of chunks) this.chunks.push(c.chunk);
    this.accepted(done);
  }

  override _final(done: Done): void {
    this.finalDone = done;
    this.schedule();
  }

  override _read(): void {
    this.peer.readOn();
  }

  /** the peer asks for more: the writes held for it go on */
  readOn(): void {
    this.blocked = false;
    const held = this.held;
    this.held = [];
    for (const done of held) done();
  }

  override _destroy(err: Error | null, done: Done): void {
    // what was written before is delivered, then the peer reads its end, as after a socket's close
    // (a broker writes its CONNACK refusal and closes in the same turn); the writes still held
    // belong to a stream that is gone and go with it
    const peer = this.peer;
    if (!peer.destroyed && !this.sentEnd) {
      if (this.chunks.length) peer.push(Buffer.concat(this.chunks));
      this.endPeer();
    }
    // the peer's writes held for this end's reader go on (to nowhere), so that the peer can finish
    peer.readOn();
    this.held = [];
    this.chunks = [];
    this.finalDone = undefined;
    done(err);
  }

  private accepted(done: Done): void {
    this.schedule();
    if (this.blocked) this.held.push(done);
    else done();
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    if (this.destroyed) return;
    const chunks = this.chunks;
    this.chunks = [];
    const peer = this.peer;
    // writing to an end that is gone closes this one, as a write to a closed socket fails
    if (peer.destroyed) return void this.destroy();
    if (!this.sentEnd && chunks.length && !peer.push(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))) this.blocked = true;
    const finalDone = this.finalDone;
    if (!finalDone) return;
    this.finalDone = undefined;
    if (!this.sentEnd) this.endPeer();
    finalDone();
  }

  private endPeer(): void {
    this.sentEnd = true;
    this.peer.push(null);
  }
}

/** Two connected ends: what one writes, the other reads. */
export function linkPair(): [Duplex, Duplex] {
  const a = new LinkEnd();
  const b = new LinkEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
