/**
 * What the device-side handler nodes (device-responder, firmware-state) share: the look of their
 * connection status, following their device's connection state, and refusing to run without a
 * working iotdm-device.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import type { DeviceAgent } from '../device/device-agent';
import type { DeviceAgentHost } from '../device/agent-host';
import type { ConnectionState, ConnectionUser } from '../protocol/link';

export type UsableDevice = DeviceAgentHost & { agent: DeviceAgent };

export function statusLook(state: string): { fill: 'green' | 'yellow' | 'red'; shape: 'dot' | 'ring' } {
  return {
    fill: state === 'connected' ? 'green' : state === 'connecting' ? 'yellow' : 'red',
    shape: state === 'connected' ? 'dot' : 'ring',
  };
}

/**
 * The node's iotdm-device, when it is configured and running. Without one the node says why once,
 * and again for every message it is given (so a Catch node sees it), and gets undefined.
 */
export function deviceOf(RED: NodeAPI, node: Node, deviceId: string, ns: string): UsableDevice | undefined {
  const host = RED.nodes.getNode(deviceId) as unknown as DeviceAgentHost | null;
  if (host?.agent) return host as UsableDevice;
  const why = host ? (host.configError ?? '') : RED._(`${ns}.errors.no-device`);
  node.error(RED._(`${ns}.errors.not-configured`, { error: why }));
  node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: () => void) => {
    node.error(RED._(`${ns}.errors.not-configured`, { error: why }), msg);
    done();
  });
  return undefined;
}

/** A handler node's hold on its device: release() on close stops the connection-state updates. */
export interface DeviceUse {
  host: UsableDevice;
  agent: DeviceAgent;
  release(): void;
}

/**
 * deviceOf, with the device's connection state handed to `show` now and on every change ('invalid'
 * when there is no working device, and then undefined).
 */
export function useDevice(RED: NodeAPI, node: Node, deviceId: string, ns: string, show: (state: ConnectionState | 'invalid') => void): DeviceUse | undefined {
  const host = deviceOf(RED, node, deviceId, ns);
  if (!host) {
    show('invalid');
    return undefined;
  }
  const user: ConnectionUser = { onConnectionState: (state) => show(state) };
  host.addUser(user);
  return { host, agent: host.agent, release: () => host.removeUser(user) };
}
