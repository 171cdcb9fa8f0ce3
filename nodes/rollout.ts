/**
 * Node `rollout` (type iotdm-rollout): one action over a fleet of any size, in waves, through the
 * platform's rollouts (nodes/platform/rollout). Its input takes a rollout definition, a command
 * (pause, resume, approve, cancel, rerun) or a query (get, list, devices); its outputs give each
 * device's result with its attempt and reason, each wave's result, the rollout's state changes, and
 * the answer to its input (an HTTP status, so http in → rollout → http response is an API).
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { compile, ValidationError } from './protocol/validate';
import { RolloutError, ROLLOUT_COMMANDS, type RolloutManager, type StateEvent, type WaveEvent } from './platform/rollout/rollout-manager';
import type { DeviceResult } from './platform/rollout/rollout';
import type { ConnectionState } from './protocol/link';
import type { PlatformNode } from './shared/platform-node';

interface RolloutNodeDef extends NodeDef {
  platform: string;
  follow: 'own' | 'all';
  deviceOutput: 'all' | 'final' | 'failures' | 'none';
}

type Send = (msg: (NodeMessage | null)[]) => void;

const QUERIES = ['get', 'list', 'devices'] as const;
const TOPICS = [...ROLLOUT_COMMANDS, 'rerun', ...QUERIES] as const;
type Topic = (typeof TOPICS)[number];

interface CommandPayload {
  command?: Topic;
  rolloutId?: string;
  _bookmark?: string;
  _limit?: number;
  state?: 'pending' | 'inProgress' | 'success' | 'failure' | 'timedOut' | 'cancelled';
}
const checkCommand = compile<CommandPayload>({
  type: 'object',
  properties: {
    command: { enum: [...TOPICS] },
    rolloutId: { type: 'string', minLength: 1, maxLength: 64 },
    _bookmark: { type: 'string', minLength: 1, maxLength: 1024 },
    _limit: { type: 'integer', minimum: 1, maximum: 5000 },
    state: { enum: ['pending', 'inProgress', 'success', 'failure', 'timedOut', 'cancelled'] },
  },
  additionalProperties: false,
});

export = function (RED: NodeAPI): void {
  function RolloutNode(this: Node, config: RolloutNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const platformNode = RED.nodes.getNode(config.platform) as PlatformNode | null;
    if (!platformNode || !platformNode.rollouts) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('rollout.status.no-platform') });
      node.on('input', (msg: NodeMessageInFlow, _send: Send, done: () => void) => {
        node.error(RED._('rollout.errors.no-platform'), msg);
        done();
      });
      return;
    }
    const rollouts: RolloutManager = platformNode.rollouts;
    const follow = config.follow || 'own';
    const deviceOutput = config.deviceOutput || 'all';
    let last: string | undefined;
    let connState: ConnectionState = 'connecting';
    let statusTimer: NodeJS.Timeout | undefined;

    const mine = (id: string) => follow === 'all' || rollouts.get(id)?.data.origin === node.id;

    function showStatus(): void {
      statusTimer = undefined;
      const d = last ? rollouts.details(last) : undefined;
      if (!d) {
        const fill = connState === 'connected' ? 'green' : connState === 'connecting' ? 'yellow' : 'red';
        node.status({ fill, shape: 'ring', text: RED._(`rollout.status.${connState}`) });
        return;
      }
      const c = d.counts;
      const fill =
        d.state === 'running'
          ? 'blue'
          : d.state === 'completed'
            ? c.failure + c.timedOut + c.cancelled
              ? 'yellow'
              : 'green'
            : d.state === 'aborted'
              ? 'red'
              : 'yellow';
      node.status({
        fill,
        shape: d.state === 'running' ? 'ring' : 'dot',
        text: RED._('rollout.status.progress', {
          state: RED._(`rollout.state.${d.state}`),
          wave: Math.min(d.currentWave + 1, d.waves.length),
          waves: d.waves.length,
          success: c.success,
          failure: c.failure + c.cancelled,
          timedOut: c.timedOut,
          total: c.total,
        }),
      });
    }
    const refresh = () => {
      if (!statusTimer) statusTimer = setTimeout(showStatus, 250);
    };
    (node as unknown as { onConnectionState: (s: ConnectionState) => void }).onConnectionState = (s) => {
      connState = s;
      refresh();
    };
    platformNode.addUser(node);

    const onDevice = (r: DeviceResult) => {
      if (!mine(r.rolloutId)) return;
      if (r.rolloutId === last) refresh();
      if (deviceOutput === 'none' || (deviceOutput !== 'all' && !r.final) || (deviceOutput === 'failures' && r.outcome === 'success')) return;
      node.send([{ topic: 'device', rolloutId: r.rolloutId, payload: r } as NodeMessage, null, null, null]);
    };
    const onWave = (w: WaveEvent) => {
      if (!mine(w.rolloutId)) return;
      refresh();
      node.send([null, { topic: 'wave', rolloutId: w.rolloutId, payload: w } as NodeMessage, null, null]);
    };
    const onState = (e: StateEvent) => {
      if (!mine(e.rolloutId)) return;
      refresh();
      node.send([null, null, { topic: 'state', rolloutId: e.rolloutId, payload: e } as NodeMessage, null]);
    };
    rollouts.on('device', onDevice);
    rollouts.on('wave', onWave);
    rollouts.on('state', onState);

    function answer(send: Send, msg: NodeMessageInFlow, topic: string, statusCode: number, payload: unknown): void {
      const out = msg as NodeMessageInFlow & { statusCode: number };
      out.topic = topic;
      out.statusCode = statusCode;
      out.payload = payload;
      send([null, null, null, out]);
    }

    function run(topic: Topic, p: CommandPayload): { statusCode: number; payload: unknown } {
      if (topic === 'list') return { statusCode: 200, payload: rollouts.list(p) };
      const id = p.rolloutId ?? last;
      if (!id) throw new ValidationError(RED._('rollout.errors.rollout-id-required', { command: topic }));
      switch (topic) {
        case 'get': {
          const d = rollouts.details(id);
          if (!d) throw new RolloutError(RED._('rollout.errors.not-found', { rolloutId: id }), 404);
          return { statusCode: 200, payload: d };
        }
        case 'devices':
          return { statusCode: 200, payload: rollouts.devices(id, p) };
        case 'rerun': {
          const r = rollouts.rerun(id, node.id);
          last = r.id;
          return { statusCode: 202, payload: { rolloutId: r.id } };
        }
        default:
          return { statusCode: 200, payload: rollouts.command(id, topic) };
      }
    }

    node.on('input', async (msg: NodeMessageInFlow, send: Send, done: (err?: Error) => void) => {
      const topic = typeof msg.topic === 'string' ? msg.topic : '';
      try {
        // the platform first: its broker, its restored registry and rollouts
        await platformNode!.ready;
        const payload = msg.payload as Record<string, unknown> | undefined;
        const isCommand = (TOPICS as readonly string[]).includes(topic) || (payload && typeof payload === 'object' && 'command' in payload);
        if (isCommand) {
          const p = checkCommand(payload ?? {});
          const t = (p.command ?? topic) as Topic;
          const a = run(t, p);
          answer(send, msg, t, a.statusCode, a.payload);
          return done();
        }
        if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new ValidationError(RED._('rollout.errors.payload-object'));
        const r = rollouts.create(payload, node.id);
        last = r.id;
        refresh();
        answer(send, msg, 'create', 202, { rolloutId: r.id });
        done();
      } catch (err) {
        const e = err as Error & { statusCode?: number };
        const statusCode = e.statusCode ?? (e instanceof ValidationError ? 400 : 500);
        answer(send, msg, topic || 'create', statusCode, { message: e.message });
        // as every node of the package: node.error(err, msg) for a Catch node, then done()
        node.error(e, msg);
        done();
      }
    });

    node.on('close', (done: () => void) => {
      rollouts.off('device', onDevice);
      rollouts.off('wave', onWave);
      rollouts.off('state', onState);
      platformNode.removeUser(node);
      if (statusTimer) clearTimeout(statusTimer);
      done();
    });
  }

  RED.nodes.registerType('iotdm-rollout', RolloutNode as never);
};
