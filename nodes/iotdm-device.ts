/**
 * Config node `iotdm-device`: one device identity (or a gateway and the devices behind it), its MQTT
 * connection and its DeviceAgent. A thin wrapper: reads and checks the config, builds the
 * Connection and the agent (nodes/device/device-agent.ts), reports the agent's events through the
 * node's log, fans connection state out to its users, closes within Node-RED's close timeout.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Connection, type ConnectionOptions } from './transport/connection';
import { DeviceAgent } from './device/device-agent';
import type { DevicePort } from './device/device-port';
import type { DeviceAgentHost } from './device/agent-host';
import type { ConnectionUser } from './protocol/link';
import type { MessageErrorEvent } from './device/agent-model';
import { parseDeviceList } from './device/device-ranges';
import { deviceKey, isValidId, type DeviceRef } from './protocol/topics';
import { LineBudget, OnceAMinute, OnChange, excerpt, reasonOf } from './shared/once-a-minute';
import { DEVICE_INFO_KEYS, type DeviceInfo, type DeviceInfoKey } from './protocol/messages';
import { tlsOptionsOf } from './shared/tls-options';
import { quietStart } from './shared/quiet-start';
import { TOKEN_AUTH_USER } from './transport/embedded-broker';

/** The organisation in the default client id (`d:iotdm:type:id`); the embedded broker does not check it. */
const DEFAULT_ORG = 'iotdm';

/** the dialog's fields, the deviceInfo ones among them */
interface IotdmDeviceDef extends NodeDef, Partial<Record<DeviceInfoKey, string>> {
  broker: string;
  clientId?: string;
  tls?: string;
  mode?: 'device' | 'gateway';
  typeId: string;
  deviceId: string;
  devices?: string;
  lifetime?: string | number;
  metadata?: string;
}
interface Credentials {
  username?: string;
  password?: string;
}
type IotdmDeviceNode = Node<Credentials> & DeviceAgentHost & { connection?: Connection };

interface Settings {
  options: ConnectionOptions;
  identity: DeviceRef;
  devices: DeviceRef[];
  lifetime: number;
  deviceInfo: DeviceInfo;
  metadata: Record<string, unknown>;
}

/** Check the config; returns the settings or the list of problems (the ids of the catalogue, with args). */
function readConfig(c: IotdmDeviceDef): Settings | { problems: { key: string; args?: Record<string, unknown> }[] } {
  const problems: { key: string; args?: Record<string, unknown> }[] = [];
  const url = (c.broker ?? '').trim();
  try {
    const u = new URL(url);
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(u.protocol)) problems.push({ key: 'broker', args: { value: url } });
  } catch {
    problems.push({ key: 'broker', args: { value: url } });
  }
  const typeId = (c.typeId ?? '').trim();
  const deviceId = (c.deviceId ?? '').trim();
  if (!isValidId(typeId)) problems.push({ key: 'typeId', args: { value: typeId } });
  if (!isValidId(deviceId)) problems.push({ key: 'deviceId', args: { value: deviceId } });
  let devices: DeviceRef[] = [];
  if (c.mode === 'gateway') {
    const list = parseDeviceList(c.devices);
    devices = list.devices;
    for (const e of list.errors) problems.push({ key: 'devices', args: { error: e } });
  }
  const lifetime = c.lifetime === undefined || c.lifetime === '' ? 3600 : Number(c.lifetime);
  if (!Number.isInteger(lifetime) || lifetime < 0) problems.push({ key: 'lifetime', args: { value: c.lifetime } });
  let metadata: Record<string, unknown> = {};
  if (c.metadata && c.metadata.trim()) {
    try {
      const m = JSON.parse(c.metadata);
      if (!m || typeof m !== 'object' || Array.isArray(m)) problems.push({ key: 'metadata-not-object' });
      else metadata = m;
    } catch (err) {
      problems.push({ key: 'metadata', args: { error: (err as Error).message } });
    }
  }
  const deviceInfo: DeviceInfo = {};
  for (const k of DEVICE_INFO_KEYS) {
    const v = c[k];
    if (typeof v === 'string' && v.trim() !== '') deviceInfo[k] = v.trim();
  }
  if (problems.length) return { problems };
  return {
    // IBM's client id (docs/protocol.md §1.5): the embedded broker lets in d:/g: clients with their token
    options: { url, clientId: c.clientId?.trim() || `${c.mode === 'gateway' ? 'g' : 'd'}:${DEFAULT_ORG}:${typeId}:${deviceId}` },
    identity: { typeId, deviceId },
    devices,
    lifetime,
    deviceInfo,
    metadata,
  };
}

export = function (RED: NodeAPI): void {
  function IotdmDevice(this: IotdmDeviceNode, config: IotdmDeviceDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const users = new Set<ConnectionUser>();
    node.addUser = (user) => {
      users.add(user);
      if (node.connection) node.connection.addUser(user);
      else user.onConnectionState?.('closed', node.configError);
    };
    node.removeUser = (user) => {
      users.delete(user);
      node.connection?.removeUser(user);
    };

    const settings = readConfig(config);
    if ('problems' in settings) {
      node.configError = settings.problems.map((p) => RED._(`iotdm-device.errors.${p.key}`, p.args as Record<string, string>)).join('; ');
      node.error(RED._('iotdm-device.errors.invalid-config', { error: node.configError }));
      return;
    }
    const options: ConnectionOptions = { ...settings.options };
    if (node.credentials?.username) options.username = node.credentials.username;
    // a token alone logs in as IBM's devices do (MQTT 3.1.1 has no password without a user name)
    else if (node.credentials?.password) options.username = TOKEN_AUTH_USER;
    if (node.credentials?.password) options.password = node.credentials.password;
    if (config.tls) {
      const tls = tlsOptionsOf(RED, config.tls);
      if (!tls) {
        node.configError = RED._('iotdm-device.errors.tls');
        node.error(RED._('iotdm-device.errors.invalid-config', { error: node.configError }));
        return;
      }
      Object.assign(options, tls);
    }

    const connection = new Connection(options);
    node.connection = connection;
    let agent: DeviceAgent;
    try {
      // the transport's Connection is the agent's port to the wire (nodes/device/device-port.ts)
      const port: DevicePort = connection;
      agent = new DeviceAgent(port, {
        identity: settings.identity,
        devices: settings.devices,
        gateway: config.mode === 'gateway',
        lifetime: settings.lifetime,
        deviceInfo: settings.deviceInfo,
        metadata: settings.metadata,
      });
    } catch (err) {
      node.configError = (err as Error).message;
      node.error(RED._('iotdm-device.errors.invalid-config', { error: node.configError }));
      void connection.close(1000);
      node.connection = undefined;
      return;
    }
    node.agent = agent;
    for (const u of users) connection.addUser(u);

    // mqtt.js repeats the same error on every reconnect attempt: log it when it changes
    const transportError = new OnChange((text) => node.warn(RED._('iotdm-device.errors.connection', { error: text })));
    // on a platform's embedded broker of this Node-RED, refusals while it starts are not errors
    const starting = quietStart(RED, options.url, (err) => transportError.note(err.message));
    connection.on('transportError', (err: Error) => {
      if (!starting.hold(err)) transportError.note(err.message);
    });
    connection.on('state', (state: string) => {
      if (state === 'connected') {
        starting.connected();
        transportError.reset();
        node.log(RED._('iotdm-device.log.connected', { url: options.url }));
      }
    });
    // invalid messages: the first of each device and reason at once (a Catch node sees it), the
    // others counted and said once a minute; topics are sender-chosen, so quoted as excerpts
    let invalidNow: MessageErrorEvent | undefined;
    const invalidBudget = new LineBudget(60, (count, devices) => node.warn(RED._('iotdm-device.errors.bad-messages-held', { count, devices })));
    const invalid = new OnceAMinute((_key, count) => {
      const e = invalidNow!;
      if (!invalidBudget.take(e.device ? deviceKey(e.device) : '?')) return;
      const topic = excerpt(e.topic, 120);
      const text =
        count > 1
          ? RED._('iotdm-device.errors.bad-messages', { count, device: e.device ? deviceKey(e.device) : '?', topic, error: e.error.message })
          : RED._('iotdm-device.errors.bad-message', { topic, error: e.error.message });
      node.error(text, { topic: e.topic, payload: e.payload, error: e.error } as never);
    });
    // the agent catches what it can; a throw that escapes it still reaches a Catch node
    connection.on('handlerError', (err: Error, topic: string, payload: Buffer) => {
      node.error(RED._('iotdm-device.errors.handler', { topic, error: err.message }), { topic, payload: payload.toString('utf8') } as never);
    });
    agent.on('messageError', (e) => {
      invalidNow = e;
      invalid.note(`${e.device ? deviceKey(e.device) : ''}|${e.topic.split('/').slice(5).join('/').slice(0, 64)}|${reasonOf(e.error.message)}`);
    });
    let dropped: { topic: string; bytes: number; max: number } | undefined;
    const tooLarge = new OnceAMinute((_k, count) => node.warn(RED._('iotdm-device.log.dropped', { ...dropped, topic: excerpt(dropped!.topic, 120), count })));
    connection.on('dropped', (d: { topic: string; bytes: number; max: number }) => {
      dropped = d;
      tooLarge.note('dropped');
    });
    connection.on('quickCloses', (closes: number, messages: number) => node.warn(RED._('iotdm-device.log.quick-closes', { closes, messages })));
    agent.on('handlerError', (e) => {
      node.error(RED._('iotdm-device.errors.handler', { topic: e.topic, error: e.error.message }), { topic: e.topic, reqId: e.reqId } as never);
    });
    agent.on('manageError', (e) => {
      node.debug(RED._('iotdm-device.errors.manage', { device: `${e.device.typeId}:${e.device.deviceId}`, error: e.error.message }));
    });
    agent.on('managed', (e) => {
      if (e.rc !== 200) {
        node.warn(RED._('iotdm-device.errors.manage-rc', { device: `${e.device.typeId}:${e.device.deviceId}`, rc: e.rc, message: e.message ?? '' }));
      }
    });
    agent.on('debug', (text) => node.debug(text));
    agent.start();

    node.on('close', (_removed: boolean, done: () => void) => {
      starting.close();
      agent.stop();
      invalidBudget.close();
      node.agent = undefined;
      // Node-RED waits 15 s for close handlers: leave room
      connection.close(4000).then(done, done);
    });
  }

  RED.nodes.registerType(
    'iotdm-device',
    IotdmDevice as never,
    {
      credentials: { username: { type: 'text' }, password: { type: 'password' } },
    } as never,
  );
};
