/**
 * What the device-side handler nodes (device-responder, firmware-state) share: the look of their
 * connection status, and refusing to run without a working iotdm-device.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import type { DeviceAgent } from '../device/device-agent';
import type { DeviceAgentHost } from '../device/agent-host';

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
  const why = host ? host.configError ?? '' : RED._(`${ns}.errors.no-device`);
  node.error(RED._(`${ns}.errors.not-configured`, { error: why }));
  node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: () => void) => {
    node.error(RED._(`${ns}.errors.not-configured`, { error: why }), msg);
    done();
  });
  return undefined;
}
