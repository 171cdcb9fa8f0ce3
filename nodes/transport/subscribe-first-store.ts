/**
 * mqtt.js' outgoing store (the QoS 1 publishes awaiting their PUBACK, and those made while offline),
 * with one change: on every connect, the publishes it holds are re-sent only once our subscriptions
 * are back in place.
 *
 * Why: mqtt.js 5 reads this store as soon as the CONNACK arrives (client._onConnect →
 * outgoingStore.createStream()) and emits 'connect' only when it has re-sent all of it. A client that
 * subscribes in its 'connect' handler therefore re-sends its requests first, and after a broker
 * restart the devices' answers reach a broker that has no subscription for them yet: they are lost
 * (issue 11: 482 of 500 reboots reported timed out although the devices had answered).
 *
 * createStream() is called with the client already connected and before the replay starts, so the
 * `beforeReplay` hook can send the SUBSCRIBE right away; the stream stays empty until the hook says
 * the SUBACK arrived, then yields what the store holds. The storage itself is mqtt.js' own Store.
 */
import { PassThrough, type Readable } from 'node:stream';
import { Store } from 'mqtt';

type Packet = Parameters<Store['put']>[0];

export class SubscribeFirstStore extends Store {
  constructor(private readonly beforeReplay: (done: () => void) => void) {
    super({ clean: false });
  }

  override createStream(): ReturnType<Store['createStream']> {
    const held = new PassThrough({ objectMode: true });
    let destroyed = false;
    const destroy = held.destroy.bind(held);
    held.destroy = (err?: Error) => {
      destroyed = true;
      return destroy(err);
    };
    this.beforeReplay(() => {
      if (destroyed) return;
      // the packets held now, as mqtt.js' own store gives them
      const inner = super.createStream() as unknown as Readable;
      inner.on('data', (p: Packet) => {
        if (!destroyed) held.write(p);
      });
      inner.on('end', () => {
        if (!destroyed) held.end();
      });
    });
    // a node stream; mqtt.js' type names readable-stream's, which reads and ends the same way
    return held as unknown as ReturnType<Store['createStream']>;
  }
}
