/** TLS material from a Node-RED `tls-config` node, as plain options (key, cert, ca, rejectUnauthorized...). */
import type { NodeAPI } from 'node-red';

export interface TlsOptions {
  key?: Buffer | string;
  cert?: Buffer | string;
  ca?: Buffer | string;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export function tlsOptionsOf(RED: NodeAPI, tlsNodeId: string | undefined): TlsOptions | undefined {
  if (!tlsNodeId) return undefined;
  const tlsNode = RED.nodes.getNode(tlsNodeId) as unknown as { addTLSOptions?: (o: TlsOptions) => TlsOptions } | null;
  if (!tlsNode || typeof tlsNode.addTLSOptions !== 'function') return undefined;
  return tlsNode.addTLSOptions({});
}
