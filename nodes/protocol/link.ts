/**
 * The state of the MQTT link as both sides see it, and the one interface of whoever wants to be
 * told of it (a node showing a status dot). No transport import: nodes/transport/connection.ts
 * implements it, the device agent's port and the config nodes speak it.
 */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Told every change of connection state, and the current state once when it is added. */
export interface ConnectionUser {
  onConnectionState?(state: ConnectionState, detail?: string): void;
}
