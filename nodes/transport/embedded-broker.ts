/**
 * The embedded MQTT broker of the `iotdm-platform` config node: aedes 1.x on a plain TCP or a TLS
 * listener, with the per-client topic scoping of scoping.ts, RETAIN ignored and payloads capped on
 * DM topics, and optional username / password (or IBM's `use-token-auth` + token) authentication.
 *
 * No Node-RED import here: the config node passes its settings and TLS material in.
 *
 * aedes 1.x is ESM-only and its broker is created asynchronously, so it is loaded with a dynamic
 * import from this CommonJS build.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Readable, Transform, type Duplex } from 'node:stream';
import { linkPair } from './in-process-link';
import { gatherWritesPerTurn } from './turn-writes';
import { sameSecret } from './same-secret';
import type { DeviceRef } from '../protocol/topics';
import { MAX_DM_PAYLOAD, deliveredTopicFor, isDmTopic, publishTopicFor, scopeOfClientId, subscriptionFor, unsubscriptionFor } from './scoping';
import { AccessControl, DROPPED_TOPIC, type AccessOptions, type Identity } from './access-control';

type AedesModule = typeof import('aedes', { with: { 'resolution-mode': 'import' } });
export type AedesBroker = InstanceType<AedesModule['Aedes']>;
type AedesClient = import('aedes', { with: { 'resolution-mode': 'import' } }).Client;
type PublishPacket = import('aedes', { with: { 'resolution-mode': 'import' } }).PublishPacket;
type AedesPublishPacket = import('aedes', { with: { 'resolution-mode': 'import' } }).AedesPublishPacket;
type Subscription = import('aedes', { with: { 'resolution-mode': 'import' } }).Subscription;

export interface EmbeddedBrokerTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA certificates; with `requestCert` the clients' certificates are checked against them */
  ca?: string | Buffer | Array<string | Buffer>;
  passphrase?: string;
}

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 picks a free one (read it back from `port`) */
  port: number;
  /** bind address, default 127.0.0.1 (loopback only) */
  host?: string;
  /**
   * When a username or a password is set, every client must present them. IBM's device libraries
   * log in as `use-token-auth` with their token as password: that form is accepted too, with the
   * configured password as the token.
   */
  username?: string;
  password?: string;
  /** listen with TLS (IBM's device libraries dial 8883 over TLS) */
  tls?: EmbeddedBrokerTls;
  /** aedes' in-flight message concurrency (default 1000: 5,000 devices are fanned out to at once) */
  concurrency?: number;
  /** listen backlog (default 2048: 5,000 devices connect at once in the benchmark) */
  backlog?: number;
  /**
   * Called when a client is refused for its MQTT version (aedes 1.x speaks 3.1 and 3.1.1 only and
   * answers an MQTT 5 CONNECT with CONNACK 1, which IBM's iot-c client does not report: docs/protocol.md §10).
   */
  onProtocolRefused?(clientId: string, protocolVersion: number): void;
  /**
   * Who may connect and act (access-control.ts): enrolled devices and gateways with their tokens,
   * application keys, the platform's own connection. When set, `username` / `password` are not used.
   */
  access?: AccessOptions;
}

export interface EmbeddedBroker {
  /** the port actually listened on */
  readonly port: number;
  /** the URL a client dials: mqtt://host:port or mqtts://host:port */
  readonly url: string;
  /** the aedes instance (for events such as 'client', 'clientDisconnect', 'publish') */
  readonly aedes: AedesBroker;
  /** the access control, when `access` was given (its throttle's figures, for instance) */
  readonly access?: AccessControl;
  /**
   * A connection to this broker inside this process (in-process-link.ts), for the platform's own
   * client: MQTT as over TCP (CONNECT, login, session, QoS), without loopback or TLS. After close()
   * the stream it returns fails at once, as a refused TCP connect would.
   */
  openLink(): Duplex;
  /** disconnect the clients connected as this device or gateway (its enrolment was removed) */
  disconnectDevice(device: DeviceRef): void;
  /** disconnect every client and stop listening; resolves within a few seconds whatever happens */
  close(): Promise<void>;
}

/** The user name of IBM's device libraries (docs/protocol.md §1.5). */
export const TOKEN_AUTH_USER = 'use-token-auth';

const CLOSE_TIMEOUT_MS = 3000;

/** Whether a CONNECT's credentials pass (exported for the config node's own checks and tests). */
export function credentialsAccepted(
  opts: Pick<EmbeddedBrokerOptions, 'username' | 'password'>,
  username: string | undefined,
  password: Buffer | string | undefined,
): boolean {
  const wantUser = opts.username || '';
  const wantPass = opts.password || '';
  if (!wantUser && !wantPass) return true;
  const userOk = !wantUser || username === wantUser || username === TOKEN_AUTH_USER;
  return userOk && sameSecret(password, wantPass);
}

function payloadLength(payload: unknown): number {
  if (Buffer.isBuffer(payload)) return payload.length;
  if (typeof payload === 'string') return Buffer.byteLength(payload);
  if (payload instanceof Uint8Array) return payload.byteLength;
  return 0;
}

/** The scope of a connected client, cached on the client object (its id never changes). */
const scopes = new WeakMap<object, DeviceRef | null>();
function scopeOf(client: AedesClient | null | undefined): DeviceRef | undefined {
  if (!client) return undefined;
  let s = scopes.get(client);
  if (s === undefined) {
    s = scopeOfClientId(client.id) ?? null;
    if (client.id) scopes.set(client, s);
  }
  return s ?? undefined;
}

/**
 * aedes has no hook for UNSUBSCRIBE, so a `d:` client's bare `iotdm-1/device/update` would not
 * remove the scoped subscription it made (IBM's Java client unsubscribes 8 topics on unmanage).
 * The filters of each UNSUBSCRIBE are mapped as the client's packets are parsed, before aedes
 * handles them. This is installed from preConnect, which aedes calls synchronously while it
 * handles the CONNECT, so every later packet of the connection goes through it.
 */
function mapUnsubscribes(client: AedesClient, scope: DeviceRef): void {
  const parser = (client as unknown as { _parser?: NodeJS.EventEmitter })._parser;
  if (!parser || typeof parser.prependListener !== 'function') return;
  parser.prependListener('packet', (packet: { cmd?: string; unsubscriptions?: string[] }) => {
    if (packet.cmd === 'unsubscribe' && Array.isArray(packet.unsubscriptions)) {
      packet.unsubscriptions = packet.unsubscriptions.map((f) => unsubscriptionFor(scope, f));
    }
  });
}

/**
 * Messages queued for a persistent session (clean=false) are sent on reconnect by aedes'
 * connect handler (`emptyQueue`), which reads `persistence.outgoingStream(client)`, asks
 * authorizeForward only whether to send, and then writes the stored packet itself, ignoring the
 * packet that authorizeForward returned. Without this a queued request would reach a `d:` client
 * under its scoped topic, where IBM's clients silently drop it (docs/protocol.md §10).
 *
 * So the stream the broker reads a `d:` client's queue from yields each packet in that client's
 * view (copies; the stored packets are left as they are: acks and message ids are matched on
 * brokerId / brokerCounter / messageId, never on the topic). authorizeForward then sees a bare
 * topic, which its mapping leaves unchanged.
 */
function mapQueuedDeliveries(aedes: AedesBroker): void {
  const persistence = (aedes as unknown as { persistence: unknown }).persistence as {
    outgoingStream(client: AedesClient): Readable;
  };
  const original = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client: AedesClient): Readable => {
    const stream = original(client);
    const scope = scopeOf(client);
    if (!scope) return stream;
    const view = new Transform({
      objectMode: true,
      transform(packet: AedesPublishPacket, _enc, next) {
        if (packet && packet.cmd === 'publish' && typeof packet.topic === 'string') {
          const topic = deliveredTopicFor(scope, packet.topic);
          // a packet for another scope cannot be queued for this client; should one be, it keeps
          // its topic and authorizeForward refuses it (aedes then drops it from the queue)
          if (topic !== undefined && topic !== packet.topic) {
            next(null, Object.assign(Object.create(Object.getPrototypeOf(packet)), packet, { topic }));
            return;
          }
        }
        next(null, packet);
      },
    });
    stream.on('error', (err) => view.destroy(err));
    return stream.pipe(view);
  };
}

function authenticateError(returnCode = 4): Error & { returnCode: number } {
  const err = new Error(returnCode === 4 ? 'bad user name or password' : 'not authorized') as Error & { returnCode: number };
  err.returnCode = returnCode; // CONNACK 4: bad user name or password; 5: not authorized
  return err;
}

/** The identity each client authenticated as (with access control). */
const identities = new WeakMap<object, Identity>();

function addressOf(client: AedesClient): string {
  const conn = (client as unknown as { conn?: { remoteAddress?: string; socket?: { remoteAddress?: string } } }).conn;
  return conn?.remoteAddress ?? conn?.socket?.remoteAddress ?? 'unknown';
}

/** Start the embedded broker. Rejects when the port cannot be listened on. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = opts.host || '127.0.0.1';
  const { Aedes } = (await import('aedes')) as AedesModule;
  const access = opts.access ? new AccessControl(opts.access) : undefined;

  const aedes: AedesBroker = await Aedes.createBroker({
    concurrency: opts.concurrency ?? 1000,
    // IBM's client ids (d:org:type:id, each part up to 36 characters) exceed MQTT 3.1's 23
    maxClientsIdLength: 256,

    preConnect(client, packet, callback) {
      const version = Number(packet.protocolVersion);
      // aedes answers CONNACK 1 itself; this only says who was turned away, and why
      if (version !== 3 && version !== 4) opts.onProtocolRefused?.(String(packet.clientId ?? ''), version);
      const scope = scopeOfClientId(packet.clientId);
      if (scope) mapUnsubscribes(client, scope);
      callback(null, true);
    },

    authenticate(client, username, password, callback) {
      if (access) {
        access.authenticate(client.id, username, password, addressOf(client)).then(
          (identity) => {
            if (identity) identities.set(client, identity);
            callback(identity ? null : (authenticateError(identity === undefined && !/^[dga]:/.test(client.id) ? 5 : 4) as never), !!identity);
          },
          () => callback(authenticateError(5) as never, false),
        );
        return;
      }
      if (credentialsAccepted(opts, username, password)) callback(null, true);
      else callback(authenticateError() as never, false);
    },

    authorizePublish(client, packet: PublishPacket, callback) {
      if (packet.topic.startsWith('$SYS')) {
        callback(new Error('$SYS topics are reserved'));
        return;
      }
      if (access && client) {
        const identity = identities.get(client);
        const topic = identity && access.publishTopic(identity, packet.topic);
        if (topic === undefined) {
          callback(new Error(`${client.id} may not publish to ${packet.topic}`));
          return;
        }
        packet.topic = topic;
        if (topic === DROPPED_TOPIC) {
          packet.retain = false;
          callback(null);
          return;
        }
      }
      const scope = access ? undefined : scopeOf(client);
      if (scope) {
        const topic = publishTopicFor(scope, packet.topic);
        if (topic === undefined) {
          callback(new Error(`${client?.id} may not publish to ${packet.topic}`));
          return;
        }
        packet.topic = topic;
      }
      if (isDmTopic(packet.topic)) {
        // IBM's broker handled every DM message as unretained (D9); EMBC sets RETAIN by mistake
        packet.retain = false;
        if (payloadLength(packet.payload) > MAX_DM_PAYLOAD) {
          callback(new Error(`payload over ${MAX_DM_PAYLOAD} bytes on ${packet.topic}`));
          return;
        }
      }
      callback(null);
    },

    authorizeSubscribe(client, sub: Subscription, callback) {
      const identity = access && client ? identities.get(client) : undefined;
      const scope = scopeOf(client);
      if (access && !identity) {
        callback(null, null);
        return;
      }
      if (!identity && !scope) {
        callback(null, sub);
        return;
      }
      const topic = identity ? access!.subscription(identity, sub.topic) : subscriptionFor(scope!, sub.topic);
      // The subscription object is changed in place (not copied): aedes stores the SUBSCRIBE's own
      // list in a persistent session, and the scoped filters must be what is stored, so that a
      // request published while the device is away is queued for it. The answer is deferred so
      // that every filter of the packet is mapped before aedes stores the list.
      if (topic !== undefined) sub.topic = topic;
      process.nextTick(() => callback(null, topic === undefined ? null : sub));
    },

    authorizeForward(client, packet: AedesPublishPacket) {
      const identity = access && client ? identities.get(client) : undefined;
      if (access && !identity) return null;
      const scope = scopeOf(client);
      if (!identity && !scope) return packet;
      const topic = identity ? access!.forwardTopic(identity, packet.topic) : deliveredTopicFor(scope!, packet.topic);
      if (topic === undefined) return null;
      if (topic === packet.topic) return packet;
      // a new packet: the one given may be shared with other subscribers
      return Object.assign(Object.create(Object.getPrototypeOf(packet)), packet, { topic });
    },
  });

  mapQueuedDeliveries(aedes);

  /** every connection, to end them all on close(): sockets, and the broker's ends of openLink's links */
  const connections = new Set<Duplex>();
  const handle = (socket: net.Socket) => {
    socket.setNoDelay(true);
    gatherWritesPerTurn(socket);
    aedes.handle(socket);
  };
  const server: net.Server = opts.tls
    ? tls.createServer(
        {
          cert: opts.tls.cert,
          key: opts.tls.key,
          ca: opts.tls.ca,
          passphrase: opts.tls.passphrase,
          noDelay: true,
        } as tls.TlsOptions,
        handle,
      )
    : net.createServer({ noDelay: true }, handle);
  // every raw connection, including those still in the TLS handshake or before CONNECT, so that
  // close() can end them all
  server.on('connection', (socket: net.Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  // a failed TLS handshake must not take the process down
  server.on('tlsClientError', () => undefined);

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ port: opts.port, host, backlog: opts.backlog ?? 2048 }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  server.on('error', (err) => aedes.emit('error', err));

  const address = server.address() as net.AddressInfo;
  const port = address.port;
  // a client on this machine dials loopback when the broker binds every address
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  return {
    port,
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://${urlHost}:${port}`,
    aedes,
    access,
    openLink() {
      const [ours, theirs] = linkPair();
      if (closing) {
        const refused = Object.assign(new Error('the embedded broker is closed'), { code: 'ECONNREFUSED' });
        process.nextTick(() => ours.destroy(refused));
        return ours;
      }
      connections.add(theirs);
      theirs.once('close', () => connections.delete(theirs));
      aedes.handle(theirs as unknown as net.Socket);
      return ours;
    },
    disconnectDevice(device: DeviceRef) {
      const clients = (aedes as unknown as { clients: Record<string, AedesClient> }).clients;
      for (const c of Object.values(clients)) {
        const id = identities.get(c);
        if (id && (id.kind === 'device' || id.kind === 'gateway') && id.device.typeId === device.typeId && id.device.deviceId === device.deviceId) c.close();
      }
    },
    close() {
      if (closing) return closing;
      access?.close();
      closing = new Promise<void>((resolve) => {
        let pending = 2;
        const timer = setTimeout(finish, CLOSE_TIMEOUT_MS);
        function finish() {
          clearTimeout(timer);
          for (const c of connections) c.destroy();
          connections.clear();
          resolve();
        }
        const one = () => {
          if (--pending === 0) finish();
        };
        server.close(() => one());
        aedes.close(() => one());
        // connections aedes does not know yet (TLS handshake, no CONNECT) would hold server.close
        setImmediate(() => {
          for (const c of connections) c.destroy();
        });
      });
      return closing;
    },
  };
}
