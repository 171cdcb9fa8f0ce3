/**
 * What the `iotdm-device` config node offers to its handler nodes (kept here, free of Node-RED, so
 * a handler node needs only this type): the agent (absent when the configuration is invalid, with
 * `configError` saying why) and the connection state fan-out.
 */
import type { ConnectionUser } from '../protocol/link';
import type { DeviceAgent } from './device-agent';

export interface DeviceAgentHost {
  agent?: DeviceAgent;
  configError?: string;
  addUser(user: ConnectionUser): void;
  removeUser(user: ConnectionUser): void;
}
