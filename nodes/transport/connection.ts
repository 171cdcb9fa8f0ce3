/**
 * One mqtt.js client per config node, shared by every node that uses it (the pattern of Node-RED's
 * core `mqtt-broker` node): users are added to receive its status, subscriptions are remembered and
 * made again on every connect, and messages are dispatched to the handler of each matching filter.
 *
 * No Node-RED import here: the config nodes own a Connection and wire its status to their users.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { filterMatcher } from './topic-filter';
import { corkForTurn, type Corkable } from './turn-writes';
import { isDmTopic, rescopedTopicFor, scopeOfClientId } from './scoping';
import type { DeviceRef } from '../protocol/topics';
import { SubscribeFirstStore } from './subscribe-first-store';

import type { ConnectionState, ConnectionUser } from '../protocol/link';

export interface ConnectionOptions {
  /** mqtt://host:port, mqtts://host:port, ws://, wss:// (with `link`, only named in logs) */
  url: string;
  /**
   * Open the connection's byte stream in this process instead of dialling `url`: the embedded
   * broker's `openLink` (in-process-link.ts). Called again on every reconnect.
   */
  link?: () => Duplex;
  clientId?: string;
  username?: string;
  password?: string;
  clean?: boolean;
  keepalive?: number;
  /** 4 (MQTT 3.1.1, the default: aedes 1.x refuses 5) or 5 */
  protocolVersion?: 4 | 5;
  reconnectPeriod?: number;
  /** TLS material (from a tls-config node) */
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  /** of an encrypted client key */
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
  /**
   * The broker's message limit in bytes of payload (default 131,072: the embedded broker's and
   * IBM's). A larger publish is never handed to mqtt.js: the broker would close the connection and
   * mqtt.js would replay the same message first on every reconnect.
   */
  maxPayloadBytes?: number;
  /** closes this soon after a connect count as "closed right after connecting" (default 5 s) */
  quickCloseMs?: number;
  /** that many such closes in a row drop what waits to be sent (default 3) */
  quickClosesToBreak?: number;
}

/** The default message limit: the embedded broker's cap on DM payloads (scoping.ts MAX_DM_PAYLOAD). */
export const DEFAULT_MAX_PAYLOAD = 131072;

/**
 * Inbound messages handled in a row before the event loop gets a turn. mqtt.js handles all that a
 * socket read brought, and the reads queued behind it, in one go: a burst from the broker (thousands
 * of answers or manages at once) held the loop for hundreds of milliseconds (the bench's manage
 * storm, a 50,000-device rollout with a wider window). Past this many the next message waits for
 * the next turn; mqtt.js stops reading meanwhile, so the rest waits in the socket and the broker.
 */
export const INBOUND_PER_TURN = 200;

/** A publish refused before it reached the broker, with a reason a log line and an exchange can name. */
export class PublishRefused extends Error {
  constructor(
    readonly reason: 'too-large' | 'dropped-after-quick-closes',
    message: string,
  ) {
    super(message);
    this.name = 'PublishRefused';
  }
}

/** how long re-sent publishes wait for the SUBACK before they go anyway */
const SUBACK_WAIT_MS = 5000;

export type MessageHandler = (topic: string, payload: Buffer) => void;

interface Subscription {
  filter: string;
  matches: (topic: string) => boolean;
  qos: 0 | 1 | 2;
  handler: MessageHandler;
  /** set on unsubscribe, so a dispatch already under way skips it */
  removed?: boolean;
}

export class Connection extends EventEmitter {
  readonly client: MqttClient;
  state: ConnectionState = 'connecting';
  lastError?: string;
  /** replaced, never changed in place: a dispatch under way keeps the list it started with */
  private subs: readonly Subscription[] = [];
  private readonly users = new Set<ConnectionUser>();
  /** when the last connection was lost (undefined while connected, and before the first connect) */
  private offlineSince?: number;
  readonly maxPayloadBytes: number;
  private connectedAt = 0;
  /** inbound messages since the last one that waited for the next turn (see INBOUND_PER_TURN) */
  private inboundInRow = 0;
  /** closes in a row that came soon after their connect */
  private quickCloses = 0;
  /** the device of a `d:` client id: the embedded broker delivers its DM topics bare */
  private readonly scope: DeviceRef | undefined;

  constructor(readonly options: ConnectionOptions) {
    super();
    const opts: IClientOptions = {
      clientId: options.clientId || `iotdm_${Math.random().toString(16).slice(2, 10)}`,
      username: options.username || undefined,
      password: options.password || undefined,
      clean: options.clean ?? true,
      keepalive: options.keepalive ?? 60,
      protocolVersion: options.protocolVersion ?? 4,
      reconnectPeriod: options.reconnectPeriod ?? 2000,
      connectTimeout: 15000,
      // mqtt.js otherwise clears and sets its keepalive timer again on every ack it receives (tens of
      // thousands a rollout); a PINGREQ every keepalive period whatever the traffic costs nothing
      reschedulePings: false,
      // mqtt.js logs every packet through `debug`, which costs even when off (a few % of the CPU of a
      // 20,000-device rollout); DEBUG=mqttjs* still turns its log on
      log: /mqttjs/.test(process.env.DEBUG ?? '') ? undefined : () => undefined,
      resubscribe: false, // we resubscribe ourselves, every connect, before anything is re-sent
      // mqtt.js replays the QoS 1 publishes it holds as soon as the CONNACK arrives, and emits
      // 'connect' only after that: subscribing in 'connect' let the answers to the replayed
      // requests reach the broker before our subscription did. This store holds the replay until
      // the broker has acknowledged our subscriptions (see subscribe-first-store.ts).
      outgoingStore: new SubscribeFirstStore((done) => this.resubscribe(done)),
      queueQoSZero: false, // nothing is queued for a connection that is not there, but QoS 1 in flight
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      servername: options.servername,
    };
    // mqtt.js hands its options to tls.connect, which reads `passphrase` (not in mqtt.js' types)
    if (options.passphrase) (opts as IClientOptions & { passphrase?: string }).passphrase = options.passphrase;
    this.maxPayloadBytes = options.maxPayloadBytes && options.maxPayloadBytes > 0 ? options.maxPayloadBytes : DEFAULT_MAX_PAYLOAD;
    this.scope = scopeOfClientId(opts.clientId);
    const link = options.link;
    this.client = link ? inProcessClient(link, opts) : mqtt.connect(options.url, opts);
    this.client.handleMessage = (_packet, done) => {
      if (++this.inboundInRow < INBOUND_PER_TURN) return done();
      this.inboundInRow = 0;
      setImmediate(done);
    };
    // the CONNACK, not 'connect': mqtt.js replays its outgoing store before it emits 'connect', so a
    // broker that closes on a replayed message is never seen as connected
    this.client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') this.connectedAt = Date.now();
    });
    this.client.on('connect', () => {
      // subscriptions are in place and what was held is re-sent: the outage, if any, is over
      const reconnected = this.offlineSince !== undefined;
      const outageMs = reconnected ? Date.now() - this.offlineSince! : 0;
      this.offlineSince = undefined;
      this.setState('connected');
      if (reconnected) this.emit('reconnected', outageMs);
    });
    this.client.on('reconnect', () => this.setState('connecting'));
    this.client.on('close', () => {
      if (this.state === 'closed') return;
      if (this.offlineSince === undefined && this.state === 'connected') this.offlineSince = Date.now();
      this.noteClose();
      this.setState('disconnected', this.lastError);
    });
    this.client.on('error', (err) => {
      this.lastError = err.message;
      this.emit('transportError', err);
    });
    this.client.on('message', (topic, payload, packet) => {
      // a retained copy on a DM topic is a stale replay, not a live request or answer: IBM's broker
      // handled DM messages as unretained (docs/protocol.md §1.3), so a broker that stored one must not
      // make us reboot or re-manage on every subscribe. Live messages reach existing subscriptions
      // with the flag cleared, whatever the publisher set.
      if (packet.retain && isDmTopic(topic)) {
        this.emit('retainedIgnored', topic);
        return;
      }
      this.coalesceWrites();
      this.dispatch(this.scope ? rescopedTopicFor(this.scope, topic) : topic, payload);
    });
  }

  /** Our answers and publishes and mqtt.js' PUBACKs of this turn leave in one write (turn-writes.ts). */
  private coalesceWrites(): void {
    const stream = this.client.stream as unknown as Partial<Corkable> | undefined;
    if (stream?.cork && stream.uncork) corkForTurn(stream as Corkable);
  }

  /**
   * Called by the store when the CONNACK has arrived and before anything held is re-sent: make
   * every subscription again and call done once the broker acknowledged them (at once without any;
   * after a bound, so a broker that never answers cannot hold our publishes forever).
   */
  private resubscribe(done: () => void): void {
    // Nagle stalls small request/response exchanges by ~40 ms (docs/protocol.md §10)
    const stream = this.client.stream as unknown as { setNoDelay?: (b: boolean) => void };
    stream?.setNoDelay?.(true);
    const filters: Record<string, { qos: 0 | 1 | 2 }> = {};
    for (const s of this.subs) filters[s.filter] = { qos: Math.max(filters[s.filter]?.qos ?? 0, s.qos) as 0 | 1 | 2 };
    if (Object.keys(filters).length === 0) return done();
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      clearTimeout(bound);
      done();
    };
    const bound = setTimeout(once, SUBACK_WAIT_MS);
    this.client.subscribe(filters, (err) => {
      if (err) this.emit('transportError', err);
      once();
    });
  }

  /** ms since the connection was lost, 0 while connected */
  get offlineForMs(): number {
    return this.offlineSince === undefined ? 0 : Date.now() - this.offlineSince;
  }

  /**
   * A broker that closes the connection right after each connect (a message it refuses, replayed by
   * mqtt.js first on every reconnect) would keep us off it for good: after `quickClosesToBreak` such
   * closes in a row, every message waiting in mqtt.js' outgoing store is dropped (its publish fails
   * with a named reason) and 'quickCloses' is emitted, once per episode, for a status and a log line.
   */
  private noteClose(): void {
    const wasConnected = this.connectedAt > 0;
    const quick = wasConnected && Date.now() - this.connectedAt < (this.options.quickCloseMs ?? 5000);
    this.connectedAt = 0;
    if (!wasConnected) return; // a failed connect attempt: mqtt.js' ordinary retry
    this.quickCloses = quick ? this.quickCloses + 1 : 0;
    if (this.quickCloses < (this.options.quickClosesToBreak ?? 3)) return;
    const outgoing = (this.client as unknown as { outgoing?: Record<string, unknown> }).outgoing ?? {};
    const ids = Object.keys(outgoing).map(Number);
    for (const id of ids) this.client.removeOutgoingMessage(id);
    this.emit('quickCloses', this.quickCloses, ids.length);
    this.quickCloses = 0;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    for (const u of this.users) u.onConnectionState?.(state, detail);
    this.emit('state', state, detail);
  }

  private dispatch(topic: string, payload: Buffer): void {
    // a handler may unsubscribe (a one-shot waiter does): subscribe and unsubscribe replace the
    // list, so this loop goes on over the one it started with and skips what was removed
    for (const s of this.subs) {
      if (!s.removed && s.matches(topic)) {
        try {
          s.handler(topic, payload);
        } catch (err) {
          // a handler must never take the client down with it
          this.emit('handlerError', err, topic, payload);
        }
      }
    }
  }

  addUser(user: ConnectionUser): void {
    this.users.add(user);
    user.onConnectionState?.(this.state, this.lastError);
  }

  removeUser(user: ConnectionUser): void {
    this.users.delete(user);
  }

  /** Subscribe now (when connected) and again on every connect. Returns the unsubscribe function. */
  subscribe(filter: string, qos: 0 | 1 | 2, handler: MessageHandler): () => void {
    const sub: Subscription = { filter, matches: filterMatcher(filter), qos, handler };
    this.subs = [...this.subs, sub];
    if (this.client.connected) this.client.subscribe(filter, { qos });
    return () => {
      sub.removed = true;
      this.subs = this.subs.filter((s) => s !== sub);
      if (!this.subs.some((s) => s.filter === filter) && this.client.connected) this.client.unsubscribe(filter);
    };
  }

  /**
   * Publish; resolves when the broker acknowledged it (QoS 1) or it was written (QoS 0). This is the
   * one way out for both sides: a payload over the broker's limit is refused here (PublishRefused
   * 'too-large', and a 'dropped' event for one log line), never handed to mqtt.js.
   */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
    // a string's UTF-8 length is at most three bytes a UTF-16 unit: a short one is not measured
    const bytes = typeof payload !== 'string' ? payload.length : payload.length * 3 <= this.maxPayloadBytes ? undefined : Buffer.byteLength(payload);
    if (bytes !== undefined && bytes > this.maxPayloadBytes) {
      const err = new PublishRefused('too-large', `message of ${bytes} bytes is over the broker's limit of ${this.maxPayloadBytes}: not sent`);
      this.emit('dropped', { topic, bytes, max: this.maxPayloadBytes });
      return Promise.reject(err);
    }
    this.coalesceWrites();
    return new Promise((resolve, reject) => {
      this.client.publish(topic, payload, { qos, retain: false }, (err) => {
        if (!err) resolve();
        else if (err.message === 'Message removed')
          reject(new PublishRefused('dropped-after-quick-closes', 'dropped: the broker closed the connection right after each connect'));
        else reject(err);
      });
    });
  }

  /** End the client; resolves once it is closed (bounded so a Node-RED close never hangs). */
  close(timeoutMs = 5000): Promise<void> {
    this.state = 'closed';
    for (const u of this.users) u.onConnectionState?.('closed');
    this.users.clear();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.client.end(true);
        resolve();
      }, timeoutMs);
      this.client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** An mqtt.js client on a stream of this process: what mqtt.connect sets up for a URL, minus the dialling. */
function inProcessClient(link: () => Duplex, opts: IClientOptions): MqttClient {
  const client = new MqttClient(() => link() as never, opts);
  // as mqtt.connect does: errors are reported through 'error' listeners added by the caller
  client.on('error', () => undefined);
  return client;
}
