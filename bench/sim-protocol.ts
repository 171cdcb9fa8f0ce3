import type { Faults } from './faults';

/** Messages between the benchmark (parent) and its device simulator (a forked child). */

export type SimCommand =
  | { type: 'start'; url: string; devices: number; clients: number; typeId: string; faults?: Faults }
  /** every device sends one manage request; answered with `managed` once all are acknowledged */
  | { type: 'manage' }
  /** counters since the last `stats` */
  | { type: 'stats' }
  /** every client connects again (after a broker restart) and subscribes again; answered `reconnected` */
  | { type: 'reconnect' }
  /** every device sends a manage at once; answered `stormed` once every manage has its 200 */
  | { type: 'storm' }
  | { type: 'stop' };

export type SimReply =
  | { type: 'ready'; clients: number; devices: number }
  | { type: 'managed' }
  | { type: 'reconnected' }
  /** ms from the first manage published to the last 200 received, measured here */
  | { type: 'stormed'; ms: number }
  | { type: 'stats'; received: number; sent: number; errors: number }
  | { type: 'error'; message: string };
