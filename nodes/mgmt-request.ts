/**
 * Node `mgmt-request`: one management request from body to outcome. The REST body of the seed
 * (docs/protocol.md §11) comes in on msg.payload; the platform's request engine runs it; this node
 * reports each device's result (output 1), the request's summary (output 2), and answers launches
 * and queries in the shape of the v0002 API with an HTTP status (output 3, so an http-in →
 * mgmt-request → http-response flow is an API).
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { compile, ValidationError } from './protocol/validate';
import { InitiateError } from './platform/request-manager';
import type { MgmtRequest, DeviceExecution } from './platform/management-request';
import type { ConnectionState } from './protocol/link';
import type { PlatformNode } from './shared/platform-node';
import { ENROLMENT_TOPICS, enrolmentCall, type EnrolmentTopic } from './shared/enrolment-calls';
import {
  QUERIES,
  queryPayloadSchema,
  type QueryName,
  type QueryPayload,
  type ApiAnswer,
  type DeviceResultPayload,
  type SummaryPayload,
} from './shared/request-messages';

interface MgmtRequestDef extends NodeDef {
  platform: string;
  action: string;
  devices: string;
  devicesType: string;
  timeout: string;
  strict: boolean;
  follow: 'own' | 'all';
  deviceOutput: 'all' | 'failures' | 'none';
}

type Send = (msg: (NodeMessage | null)[]) => void;

const checkQuery = compile<QueryPayload>(queryPayloadSchema);

export = function (RED: NodeAPI): void {
  function MgmtRequestNode(this: Node, config: MgmtRequestDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const platformNode = RED.nodes.getNode(config.platform) as PlatformNode | null;
    if (!platformNode || !platformNode.platform) {
      node.status({ fill: 'red', shape: 'ring', text: RED._('mgmt-request.status.no-platform') });
      node.on('input', (msg: NodeMessageInFlow, _send: Send, done: () => void) => {
        node.error(RED._('mgmt-request.errors.no-platform'), msg);
        done();
      });
      return;
    }
    const requests = platformNode.platform.requests;
    const deviceOutput = config.deviceOutput || 'all';
    const follow = config.follow || 'own';
    const defaultTimeout = Number(config.timeout) > 0 ? Number(config.timeout) * 1000 : undefined;
    let connState: ConnectionState = 'connecting';
    let current: MgmtRequest | undefined;
    let statusTimer: NodeJS.Timeout | undefined;

    const mine = (req: MgmtRequest) => req.origin === node.id || follow === 'all';

    function showStatus(): void {
      statusTimer = undefined;
      if (current) {
        const c = current.counts;
        const done = c.total - c.inProgress;
        const fill = !current.complete ? 'blue' : c.failure + c.timedOut + c.cancelled > 0 ? 'yellow' : 'green';
        node.status({
          fill,
          shape: current.complete ? 'dot' : 'ring',
          text: RED._('mgmt-request.status.progress', {
            action: current.action,
            done,
            total: c.total,
            success: c.success,
            failure: c.failure + c.cancelled,
            timedOut: c.timedOut,
          }),
        });
      } else {
        const fill = connState === 'connected' ? 'green' : connState === 'connecting' ? 'yellow' : 'red';
        // development mode lets devices enrol themselves: a warning for as long as it is on
        if (connState === 'connected' && platformNode!.accessMode === 'development' && platformNode!.broker) {
          node.status({ fill: 'yellow', shape: 'dot', text: RED._('mgmt-request.status.development') });
        } else node.status({ fill, shape: 'ring', text: RED._(`mgmt-request.status.${connState}`) });
      }
    }
    // live counts, at most four times a second whatever the fan-out
    const refresh = () => {
      if (!statusTimer) statusTimer = setTimeout(showStatus, 250);
    };

    (node as unknown as { onConnectionState: (s: ConnectionState) => void }).onConnectionState = (s) => {
      connState = s;
      refresh();
    };
    // a notice shows until the next status (a request's progress or the connection's state)
    (node as unknown as { onNotice: (text: string) => void }).onNotice = (text) => {
      if (!current || current.complete) node.status({ fill: 'yellow', shape: 'ring', text });
    };
    platformNode.addUser(node);

    const onCreated = (req: MgmtRequest) => {
      if (!mine(req)) return;
      current = req;
      refresh();
    };
    const onDevice = (req: MgmtRequest, exec: DeviceExecution) => {
      if (!mine(req)) return;
      if (req === current) refresh();
      if (deviceOutput === 'none' || (deviceOutput === 'failures' && exec.outcome === 'success')) return;
      const payload: DeviceResultPayload = { reqId: req.id, action: req.action, ...req.row(exec) };
      node.send([{ topic: req.action, reqId: req.id, payload } as NodeMessage, null, null]);
    };
    const onComplete = (req: MgmtRequest) => {
      if (!mine(req)) return;
      if (req === current) showStatus();
      const payload: SummaryPayload = { reqId: req.id, ...req.details() };
      node.send([null, { topic: req.action, reqId: req.id, payload } as NodeMessage, null]);
    };
    requests.on('requestCreated', onCreated);
    requests.on('deviceComplete', onDevice);
    requests.on('requestComplete', onComplete);

    function answer(send: Send, msg: NodeMessageInFlow, a: ApiAnswer): void {
      const out = msg as unknown as ApiAnswer & NodeMessageInFlow;
      out.topic = a.topic;
      out.statusCode = a.statusCode;
      out.payload = a.payload;
      send([null, null, out]);
    }

    function query(name: QueryName, p: QueryPayload): ApiAnswer {
      const notFound = (): ApiAnswer => ({
        topic: name,
        statusCode: 404,
        payload: { message: RED._('mgmt-request.errors.not-found', { reqId: p.reqId ?? '' }) },
      });
      if (name === 'list') return { topic: name, statusCode: 200, payload: requests.list(p) };
      if (!p.reqId) throw new ValidationError(RED._('mgmt-request.errors.reqid-required', { query: name }));
      switch (name) {
        case 'get': {
          const d = requests.details(p.reqId);
          return d ? { topic: name, statusCode: 200, payload: d } : notFound();
        }
        case 'deviceStatus': {
          if (p.typeId || p.deviceId) {
            if (!p.typeId || !p.deviceId) throw new ValidationError(RED._('mgmt-request.errors.device-required'));
            const row = requests.deviceStatusOf(p.reqId, { typeId: p.typeId, deviceId: p.deviceId });
            return row ? { topic: name, statusCode: 200, payload: row } : notFound();
          }
          const page = requests.deviceStatus(p.reqId, p);
          return page ? { topic: name, statusCode: 200, payload: page } : notFound();
        }
        case 'cancel': {
          const d = requests.cancel(p.reqId);
          return d ? { topic: name, statusCode: 200, payload: d } : notFound();
        }
        case 'delete':
          return requests.delete(p.reqId) ? { topic: name, statusCode: 204, payload: '' } : notFound();
      }
    }

    function devicesFrom(msg: NodeMessageInFlow): Promise<unknown> {
      return new Promise((resolve, reject) => {
        if (!config.devicesType || !config.devices) return resolve(undefined);
        RED.util.evaluateNodeProperty(config.devices, config.devicesType, node, msg, (err: Error | null, value: unknown) =>
          err ? reject(err) : resolve(value),
        );
      });
    }

    node.on('input', async (msg: NodeMessageInFlow, send: Send, done: (err?: Error) => void) => {
      try {
        const topic = typeof msg.topic === 'string' ? msg.topic : '';
        if ((ENROLMENT_TOPICS as readonly string[]).includes(topic)) {
          // enrolment by the flow: who may connect to the embedded broker
          const a = await enrolmentCall(platformNode.enrolment, topic as EnrolmentTopic, msg.payload, (key, vars) =>
            RED._(`iotdm-platform.enrolment.${key}`, vars),
          );
          answer(send, msg, { topic, ...a } as ApiAnswer);
          return done();
        }
        if ((QUERIES as readonly string[]).includes(topic)) {
          const p = checkQuery(msg.payload ?? {});
          answer(send, msg, query(topic as QueryName, p));
          return done();
        }
        if (!msg.payload || typeof msg.payload !== 'object' || Array.isArray(msg.payload)) {
          throw new InitiateError(RED._('mgmt-request.errors.payload-object'), 400);
        }
        const body: Record<string, unknown> = { ...(msg.payload as Record<string, unknown>) };
        if (body.action === undefined && config.action) body.action = config.action;
        if (body.devices === undefined) {
          const devices = await devicesFrom(msg);
          if (devices !== undefined) body.devices = devices;
        }
        const msgTimeout = (msg as { timeout?: unknown }).timeout;
        if (msgTimeout !== undefined && (typeof msgTimeout !== 'number' || !(msgTimeout > 0))) {
          throw new InitiateError(RED._('mgmt-request.errors.timeout'), 400);
        }
        const timeoutMs = typeof msgTimeout === 'number' ? msgTimeout * 1000 : body.timeout === undefined ? defaultTimeout : undefined;
        const req = requests.initiate(body, { origin: node.id, strict: !!config.strict, timeoutMs });
        answer(send, msg, { topic: 'initiate', statusCode: 202, payload: { reqId: req.id } });
        done();
      } catch (err) {
        const e = err as Error & { statusCode?: number; rc?: number; paths?: string[] };
        const statusCode = e.statusCode ?? (e instanceof ValidationError ? 400 : 500);
        // the validator's paths of an invalid body, for a flow that wants to point at the field
        const paths = e.paths?.length ? { paths: e.paths } : {};
        answer(send, msg, {
          topic: typeof msg.topic === 'string' && msg.topic ? msg.topic : 'initiate',
          statusCode,
          payload: { message: e.message, ...paths },
        });
        // as every node of the package: node.error(err, msg) for a Catch node, then done()
        node.error(e, msg);
        done();
      }
    });

    node.on('close', (done: () => void) => {
      requests.off('requestCreated', onCreated);
      requests.off('deviceComplete', onDevice);
      requests.off('requestComplete', onComplete);
      platformNode.removeUser(node);
      if (statusTimer) clearTimeout(statusTimer);
      done();
    });
  }

  RED.nodes.registerType('iotdm-mgmt-request', MgmtRequestNode as never);
};
