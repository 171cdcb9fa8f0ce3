/**
 * Config node `iotdm-platform`: the device-management server. It owns one MQTT connection (to an
 * external broker, or to the embedded aedes broker it starts), the Platform core (registry and
 * management requests), the persistence of the registry in context, and the fan-out of connection
 * state and of errors to the nodes that use it. The protocol lives in nodes/protocol, nodes/platform and nodes/device.
 */
import type { NodeAPI } from 'node-red';
import { Platform } from './platform/platform';
import { deviceKey } from './protocol/topics';
import { Connection } from './transport/connection';
import type { ConnectionState } from './protocol/link';
import { startEmbeddedBroker, TOKEN_AUTH_USER } from './transport/embedded-broker';
import { tlsOptionsOf } from './shared/tls-options';
import { ErrorReporter } from './shared/error-reporter';
import { createHttpApi } from './shared/http-api';
import { mountApi, MountError, type MountTarget } from './shared/http-mount';
import { shieldBodies, topApp, type ShieldTarget } from './shared/body-shield';
import type { PlatformNode, PlatformNodeDef, PlatformUser } from './shared/platform-node';
import { configNumber } from './shared/config-number';
import { openPlatformStore } from './shared/platform-store';
import { RolloutManager } from './platform/rollout/rollout-manager';
import { platformRolloutStore } from './platform/rollout/rollout-store';
import { rolloutRoutes } from './shared/rollout-api';
import { persistRegistry, restoreRegistry } from './platform/registry-store';
import { LineBudget, OnceAMinute, OnChange, excerpt, reasonOf } from './shared/once-a-minute';
import { MAX_DM_PAYLOAD } from './transport/scoping';
import { persistRequests } from './platform/request-records';
import { attachPlatform } from './shared/attach-platform';
import { Enrolment } from './platform/enrolment';
import { persistEnrolment, restoreEnrolment } from './platform/enrolment-store';
import { accessModeOf, accessOptions, gatewayPolicyOf, platformCredential } from './shared/platform-access';

export = function (RED: NodeAPI): void {
  function IotdmPlatformNode(this: PlatformNode, config: PlatformNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const users = new ErrorReporter(node);
    node.state = 'connecting';

    let connection: Connection | undefined;
    const platform = new Platform(
      (topic, payload) => (connection ? connection.publish(topic, payload, 1) : Promise.reject(new Error(RED._('iotdm-platform.errors.not-connected')))),
      {
        requestTimeoutMs: configNumber(config.requestTimeout, 3600) * 1000,
        restartTimeoutMs: configNumber(config.restartTimeout, 300) * 1000,
        responseTimeoutMs: configNumber(config.responseTimeout, 30) * 1000,
        downloadTimeoutMs: configNumber(config.downloadTimeout, 600) * 1000,
        installTimeoutMs: configNumber(config.installTimeout, 600) * 1000,
        maxInFlight: Math.max(1, configNumber(config.maxInFlight, 500)),
        alwaysSendFirmwareUpdate: !!config.alwaysSendFirmwareUpdate,
        maxRetained: configNumber(config.retainCount, 200),
        retentionMs: configNumber(config.retainHours, 24) * 3_600_000,
        bounds: { metadataBytes: Math.max(1, configNumber(config.maxMetadata, 16)) * 1024 },
      },
    );
    node.platform = platform;

    // answers that no exchange waits for (QoS 1 redeliveries, a client that re-answers forever): counted,
    // and said once a minute per device, never silently absorbed
    const unmatched = new OnceAMinute((device, count) => node.warn(RED._('iotdm-platform.log.unmatched', { device: excerpt(device), count })));
    platform.on('unmatched', (_resp, device) => unmatched.note(deviceKey(device)));

    // invalid messages: the first of each device and reason goes to the Catch nodes at once, the
    // others are counted and said once a minute (a device sending thousands must not flood the log)
    let invalidNow: { err: Error; msg: Record<string, unknown> } | undefined;
    // and at most 60 such lines a minute in all, whatever the number of devices
    const invalidBudget = new LineBudget(60, (count, devices) => node.warn(RED._('iotdm-platform.log.invalid-held', { count, devices })));
    const invalid = new OnceAMinute((_key, count) => {
      const { err, msg } = invalidNow!;
      const device = msg.device ? deviceKey(msg.device as never) : '?';
      if (!invalidBudget.take(device)) return;
      const shown = count > 1 ? new Error(RED._('iotdm-platform.log.invalid-count', { count, device: excerpt(device), error: err.message })) : err;
      users.report(shown, msg as never);
    });
    platform.on('invalid', (err, info) => {
      invalidNow = { err, msg: { topic: info.topic, payload: info.payload, device: info.device } };
      invalid.note(`${info.device ? deviceKey(info.device) : ''}|${info.topic.split('/').slice(5).join('/').slice(0, 64)}|${reasonOf(err.message)}`);
    });

    // the registry and the requests survive a restart and a deploy: a journal in the user directory
    const store = openPlatformStore(RED.settings.userDir as string | undefined, node.id, config.persist !== false);
    node.store = store;
    store.onError = (err) => node.error(RED._('iotdm-platform.errors.save-failed', { error: err.message }));
    const stopPersistingRequests = persistRequests(platform.requests, store);
    // who may connect to the embedded broker: enrolled devices and gateways, kept with the registry
    const enrolment = new Enrolment();
    node.enrolment = enrolment;
    node.accessMode = accessModeOf(config.access);
    const gatewayPolicy = gatewayPolicyOf(config.gatewayPolicy);
    const restore = store.load().then(
      (loaded) => {
        restoreRegistry(platform.registry, loaded);
        persistRegistry(platform.registry, store);
        restoreEnrolment(enrolment, loaded);
        persistEnrolment(enrolment, store);
        node.loaded = loaded;
      },
      (err: Error) => {
        node.error(RED._('iotdm-platform.errors.restore-failed', { error: err.message }));
        persistRegistry(platform.registry, store);
        persistEnrolment(enrolment, store);
      },
    );
    enrolment.on('removed', (device) => node.broker?.disconnectDevice(device));
    const refusedLogins = new OnceAMinute((key, count) => {
      const [reason, clientId] = [key.slice(0, key.indexOf(' ')), key.slice(key.indexOf(' ') + 1)];
      node.warn(RED._('iotdm-platform.log.login-refused', { clientId: excerpt(clientId), reason: RED._(`iotdm-platform.refusal.${reason}`), count }));
    });

    // rollouts above the request engine, kept in the same store; they resume once connected (start())
    node.rollouts = new RolloutManager(platform.requests, platform.registry, { store: platformRolloutStore(store, () => node.loaded) });

    const setState = (state: ConnectionState, detail?: string) => {
      node.state = state;
      users.forEach((u) => (u as PlatformUser).onConnectionState?.(state, detail));
    };

    node.addUser = (user) => {
      users.add(user);
      user.onConnectionState?.(node.state);
    };
    node.removeUser = (user) => {
      users.delete(user);
    };

    // an MQTT 5 client (IBM's iot-c) is refused by aedes with a bare CONNACK 1: say who, and why
    const refusedClients = new OnceAMinute((clientId, count) => {
      const text = RED._('iotdm-platform.log.protocol-refused', { clientId: excerpt(clientId), count });
      node.warn(text);
      users.forEach((u) => (u as PlatformUser).onNotice?.(RED._('iotdm-platform.status.protocol-refused', { clientId: excerpt(clientId, 40) })));
    });

    // what could not be sent: one line per minute, and a status when the broker keeps closing on us
    function watchOutbound(c: Connection): void {
      let dropped: { topic: string; bytes: number; max: number } | undefined;
      const tooLarge = new OnceAMinute((_k, count) =>
        node.warn(RED._('iotdm-platform.log.dropped', { ...dropped, topic: excerpt(dropped!.topic, 120), count })),
      );
      c.on('dropped', (d: { topic: string; bytes: number; max: number }) => {
        dropped = d;
        tooLarge.note('dropped');
      });
      c.on('quickCloses', (closes: number, messages: number) => {
        node.warn(RED._('iotdm-platform.log.quick-closes', { closes, messages }));
        users.forEach((u) => (u as PlatformUser).onNotice?.(RED._('iotdm-platform.status.quick-closes')));
      });
    }

    const tls = tlsOptionsOf(RED, config.tls);
    const creds = node.credentials ?? {};

    async function start(): Promise<void> {
      await restore;
      let url = config.url;
      let own: { clientId: string; username: string; secret: string } | undefined;
      if (config.broker !== 'external') {
        if (config.tls && (!tls?.cert || !tls?.key)) throw new Error(RED._('iotdm-platform.errors.tls-needs-cert'));
        own = platformCredential(node.id);
        // one username/password for every client was the embedded broker's login before enrolment
        if (creds.username || creds.password) node.warn(RED._('iotdm-platform.errors.embedded-login-ignored'));
        node.broker = await startEmbeddedBroker({
          port: configNumber(config.port, 1883),
          host: config.bind || '127.0.0.1',
          access: accessOptions(
            enrolment,
            () => ({ mode: node.accessMode, gatewayPolicy, apiKey: node.credentials?.apiKey, apiToken: node.credentials?.apiToken }),
            own,
            (r) => refusedLogins.note(`${r.reason} ${r.clientId}`),
          ),
          tls: tls?.cert && tls?.key ? { cert: tls.cert, key: tls.key, ca: tls.ca, passphrase: tls.passphrase } : undefined,
          onProtocolRefused: (clientId) => refusedClients.note(clientId),
        });
        url = node.broker.url; // named in logs: the connection below reaches it inside this process
        node.log(RED._('iotdm-platform.log.embedded', { url: node.broker.url }));
        if (node.accessMode === 'development') node.warn(RED._('iotdm-platform.log.development-mode'));
      }
      if (!url) throw new Error(RED._('iotdm-platform.errors.no-url'));
      // MQTT 3.1.1 has no password without a user name: a token alone logs in as IBM's devices do
      const username = own ? own.username : creds.username || (creds.password ? TOKEN_AUTH_USER : undefined);
      const broker = node.broker;
      connection = new Connection({
        url,
        // our own broker is reached inside this process: no loopback socket, no TLS to ourselves
        link: broker ? () => broker.openLink() : undefined,
        clientId: own ? own.clientId : config.clientId || `iotdm-platform-${node.id}`,
        username,
        password: own ? own.secret : creds.password || undefined,
        clean: config.cleanSession !== false,
        keepalive: configNumber(config.keepalive, 60),
        ca: tls?.ca,
        cert: config.broker === 'external' ? tls?.cert : undefined,
        key: config.broker === 'external' ? tls?.key : undefined,
        passphrase: config.broker === 'external' ? tls?.passphrase : undefined,
        servername: tls?.servername,
        rejectUnauthorized: tls?.rejectUnauthorized,
        // what the broker takes: the embedded broker's cap, or what the operator says of the external one
        maxPayloadBytes: config.broker === 'external' ? Math.max(1, configNumber(config.maxMessage, 128)) * 1024 : MAX_DM_PAYLOAD,
      });
      node.connection = connection;
      connection.on('state', (s: ConnectionState, detail?: string) => setState(s, detail));
      // say each distinct connection error once (a refused login would otherwise look like "connecting")
      const connectionError = new OnChange((text) => node.warn(RED._('iotdm-platform.errors.connection', { error: text })));
      connection.on('transportError', (err: Error) => connectionError.note(err.message));
      connection.on('state', (s: ConnectionState) => {
        if (s === 'connected') connectionError.reset();
      });
      connection.on('reconnected', (ms: number) => node.log(RED._('iotdm-platform.log.reconnected', { seconds: Math.round(ms / 100) / 10 })));
      // the platform catches what it can; a throw that escapes it still reaches a Catch node
      connection.on('handlerError', (err: Error, topic: string, payload: Buffer) => {
        users.report(new Error(RED._('iotdm-platform.errors.handler', { topic, error: err.message })), { topic, payload: payload.toString('utf8') } as never);
      });
      watchOutbound(connection);
      // answer deadlines pause while the broker is away; what it may have lost is asked again
      attachPlatform(connection, platform);
      // the requests of the last run: listed again, the running ones resume (their publishes wait
      // in the client until it is connected and subscribed)
      const resumed = platform.requests.resume(node.loaded);
      if (resumed) node.log(RED._('iotdm-platform.log.resumed', { count: resumed }));
      const rolloutsResumed = await node.rollouts.restore();
      if (rolloutsResumed) node.log(RED._('iotdm-platform.log.rollouts-resumed', { count: rolloutsResumed }));
    }

    // the v0002 management-requests API on Node-RED's HTTP server (docs/protocol.md §5)
    let unmountApi: (() => void) | undefined;
    if (config.api) {
      const root = config.apiRoot || '/api/v0002';
      if (!creds.apiKey || !creds.apiToken) node.warn(RED._('iotdm-platform.errors.api-no-credentials'));
      try {
        const api = createHttpApi(platform.requests, {
          credentials: () => ({ apiKey: node.credentials?.apiKey, apiToken: node.credentials?.apiToken }),
          t: (key, vars) => RED._(`iotdm-platform.api.${key}`, vars),
          onError: (err) => node.error(RED._('iotdm-platform.errors.api-failed', { error: err.message })),
          enrolment: { enrolment, t: (key, vars) => RED._(`iotdm-platform.enrolment.${key}`, vars) },
          routes: [
            rolloutRoutes(
              () => node.rollouts,
              (key, vars) => RED._(`iotdm-platform.api.${key}`, vars),
              () => node.ready,
            ),
          ],
        });
        const unmount = mountApi(RED.httpNode as unknown as MountTarget, root, api);
        const nodeRoot = RED.settings.httpNodeRoot;
        // the editor's admin app parses bodies of every path it sees first (default roots): not ours
        const top = topApp(RED.httpNode as unknown as ShieldTarget);
        const unshield = top ? shieldBodies(top, `${String(nodeRoot || '/').replace(/\/+$/, '')}${root}`) : undefined;
        unmountApi = () => {
          unshield?.();
          unmount();
        };
        if (nodeRoot === false) node.warn(RED._('iotdm-platform.errors.api-http-disabled'));
        else node.log(RED._('iotdm-platform.log.api', { root: `${String(nodeRoot || '/').replace(/\/+$/, '')}${root}` }));
      } catch (err) {
        if (!(err instanceof MountError)) throw err;
        node.error(RED._(`iotdm-platform.errors.api-${err.reason}`, { root }));
      }
    }

    node.ready = start().catch((err: Error) => {
      setState('disconnected', err.message);
      node.error(RED._('iotdm-platform.errors.start-failed', { error: err.message }));
    });

    node.on('close', async (_removed: boolean, done: () => void) => {
      unmountApi?.();
      invalidBudget.close();
      try {
        await node.ready;
        // rollouts stop where they are and are saved before the engine cancels what runs
        await node.rollouts.close();
        // running requests stay running in the store: the next start (a restart, a deploy) resumes them
        stopPersistingRequests();
        platform.close();
        await store.close();
        if (connection) await connection.close(3000);
        if (node.broker) await node.broker.close();
      } catch (err) {
        node.warn((err as Error).message);
      }
      setState('closed');
      done();
    });
  }

  RED.nodes.registerType('iotdm-platform', IotdmPlatformNode as never, {
    credentials: {
      username: { type: 'text' },
      password: { type: 'password' },
      apiKey: { type: 'text' },
      apiToken: { type: 'password' },
    },
  });
};
