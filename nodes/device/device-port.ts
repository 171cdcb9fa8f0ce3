/**
 * What the device agent needs of the wire: publish, subscribe, and the connection's state. The
 * device side's counterpart of the platform side's `Publish` function; nodes/iotdm-device.ts hands
 * the transport's Connection in as this port, so nothing under nodes/device imports the transport.
 */
import type { ConnectionState } from '../protocol/link';

export type MessageListener = (topic: string, payload: Buffer) => void;
export type StateListener = (state: ConnectionState) => void;

export interface DevicePort {
  /** true while the link is up */
  readonly connected: boolean;
  /** Resolves when the broker took the message (QoS 1) or it was written (QoS 0). */
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  /** Subscribe now and again on every connect; returns the unsubscribe function. */
  subscribe(filter: string, qos: 0 | 1 | 2, listener: MessageListener): () => void;
  /** every change of the link's state */
  on(event: 'state', listener: StateListener): unknown;
  off(event: 'state', listener: StateListener): unknown;
}
