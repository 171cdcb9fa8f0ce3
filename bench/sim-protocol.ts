import type { Faults } from './faults';

/** Messages between the benchmark (parent) and its device simulator (a forked child). */

export type SimCommand =
  | { type: 'start'; url: string; devices: number; clients: number; typeId: string; faults?: Faults }
  /** every device sends one manage request; answered with `managed` once all are acknowledged */
  | { type: 'manage' }
  /** counters since the last `stats` */
  | { type: 'stats' }
  | { type: 'stop' };

export type SimReply =
  | { type: 'ready'; clients: number; devices: number }
  | { type: 'managed' }
  | { type: 'stats'; received: number; sent: number; errors: number }
  | { type: 'error'; message: string };
