/** Waiting for a Connection of the bench (ours, or the floor over our Connection) to receive what it subscribed to. */
import type { Connection } from '../nodes/transport/connection';
import { PLATFORM_SUBSCRIPTION } from '../nodes/protocol/topics';

/**
 * Resolves once `conn` is connected and the broker delivers PLATFORM_SUBSCRIPTION to it. The
 * Connection subscribes on connect without waiting for the SUBACK; the same filter is subscribed
 * once more here with a callback (a broker replaces an identical subscription).
 */
export async function subscribedConnection(conn: Connection, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`platform connection: ${conn.lastError ?? 'not connected'} after ${timeoutMs} ms`)), timeoutMs);
    conn.client.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => conn.client.subscribe(PLATFORM_SUBSCRIPTION, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}
