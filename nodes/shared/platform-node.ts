/** The types of the `iotdm-platform` config node, for the nodes that use it. */
import type { Node, NodeDef } from 'node-red';
import type { Platform } from '../platform/platform';
import type { Connection } from '../transport/connection';
import type { ConnectionState, ConnectionUser } from '../protocol/link';
import type { EmbeddedBroker } from '../transport/embedded-broker';
import type { Collections, Store } from '../platform/store';
import type { RolloutManager } from '../platform/rollout/rollout-manager';
import type { Enrolment } from '../platform/enrolment';
import type { AccessMode } from './platform-access';

export interface PlatformNodeDef extends NodeDef {
  broker: 'embedded' | 'external';
  url: string;
  clientId: string;
  cleanSession: boolean;
  keepalive: string;
  tls: string;
  port: string;
  bind: string;
  requestTimeout: string;
  restartTimeout: string;
  responseTimeout: string;
  downloadTimeout: string;
  installTimeout: string;
  maxInFlight: string;
  /** KiB of d.metadata a device may store (bounds.ts metadataBytes) */
  maxMetadata?: string;
  /** KiB: the external broker's message limit */
  maxMessage?: string;
  alwaysSendFirmwareUpdate: boolean;
  /** keep the registry and the requests in a journal in the user directory (default true) */
  persist?: boolean;
  /** finished requests kept: at most this many, for at most this many hours */
  retainCount?: string;
  retainHours?: string;
  /** serve the v0002 management-requests API on RED.httpNode */
  api?: boolean;
  apiRoot?: string;
  /** who may connect to the embedded broker: `enrolled` (default) or `development` (trust on first use) */
  access?: string;
  /** which devices a gateway may act for: `enrolled` (default, enrolled behind it) or `auto` */
  gatewayPolicy?: string;
}

export interface PlatformCredentials {
  username?: string;
  password?: string;
  /** HTTP Basic user and password of the management-requests API */
  apiKey?: string;
  apiToken?: string;
}

/** a node using the platform: told its connection state, and the channel of its errors (ErrorReporter) */
export interface PlatformUser extends Node, ConnectionUser {
  /** something about the broker worth a status of its own (a client refused for its MQTT version) */
  onNotice?(text: string): void;
}

export interface PlatformNode extends Node<PlatformCredentials> {
  platform: Platform;
  /** the devices, gateways and application keys that may connect to the embedded broker */
  enrolment: Enrolment;
  accessMode: AccessMode;
  connection?: Connection;
  broker?: EmbeddedBroker;
  /** where the registry and the requests are kept (nodes/platform/store.ts); others may use it too */
  store: Store;
  /** what the store held at start (set once loaded) */
  loaded?: Collections;
  /** the platform's rollouts (nodes/platform/rollout), kept in `store`; taken up once the platform is ready */
  rollouts: RolloutManager;
  /** resolves when the broker (embedded) is listening and the registry is restored */
  ready: Promise<void>;
  state: ConnectionState;
  addUser(user: PlatformUser): void;
  removeUser(user: PlatformUser): void;
}
