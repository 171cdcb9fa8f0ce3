/**
 * The platform core on one MQTT connection: every device-scoped `iotdevice-1` message to
 * Platform.handleMessage, and the connection's state to the request engine (deadlines pause while
 * the broker is away; once connected and subscribed again, what the broker may have lost is asked
 * again; request-recovery.ts). Used by the `iotdm-platform` node, the chaos scenarios and the bench.
 */
import { PLATFORM_SUBSCRIPTION } from '../protocol/topics';
import type { ConnectionState } from '../protocol/link';
import type { Connection } from '../transport/connection';
import type { Platform } from '../platform/platform';

/** Attach; returns the function that detaches. */
export function attachPlatform(connection: Connection, platform: Platform): () => void {
  const off = connection.subscribe(PLATFORM_SUBSCRIPTION, 1, (topic, payload) => platform.handleMessage(topic, payload));
  const onState = (s: ConnectionState) => {
    if (s === 'connected') platform.requests.connectionRestored();
    else if (s === 'disconnected') platform.requests.connectionLost();
  };
  connection.on('state', onState);
  return () => {
    off();
    connection.off('state', onState);
  };
}
