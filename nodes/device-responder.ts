/**
 * Node `device-responder` (type `iotdm-device-responder`): answers `device/reboot` and
 * `device/factoryReset` (docs/protocol.md §3.8) for every device of its `iotdm-device`, emits a typed
 * action message for the user's flow, and answers 202 at once (mode "auto") or with the rc that the
 * flow sends back (mode "flow"). Input `msg.topic = "manage"` sends a manage for a device that has
 * restarted, which completes the platform's request. A thin wrapper over the DeviceAgent.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { ActionRequest, DmHandler } from './device/handler-types';
import type { ConnectionState } from './protocol/link';
import { compile } from './protocol/validate';
import { deviceKey, isValidId, type DeviceRef } from './protocol/topics';
import { MAX_DEVICES } from './protocol/messages';
import {
  answerMessageSchema,
  manageMessageSchema,
  type ActionMessage,
  type AnswerMessage,
  type DeviceAction,
  type ManageMessage,
} from './device/responder-messages';
import { useDevice, statusLook } from './shared/handler-node';
import { OnceAMinute, reasonOf } from './shared/once-a-minute';

const validateAnswer = compile<AnswerMessage>(answerMessageSchema);
const validateManage = compile<ManageMessage>(manageMessageSchema);

interface ResponderDef extends NodeDef {
  device: string;
  mode?: 'auto' | 'flow';
  reboot?: boolean;
  factoryReset?: boolean;
  /** seconds the flow has to answer in mode "flow"; 0 = no limit */
  timeout?: string | number;
}

interface Waiting {
  req: ActionRequest;
  timer?: NodeJS.Timeout;
}

const ACTION_OF: Record<string, DeviceAction> = { reboot: 'device/reboot', factoryReset: 'device/factoryReset' };

export = function (RED: NodeAPI): void {
  function DeviceResponder(this: Node, config: ResponderDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const mode = config.mode === 'flow' ? 'flow' : 'auto';
    const supported: Record<DeviceAction, boolean> = {
      'device/reboot': config.reboot !== false,
      'device/factoryReset': config.factoryReset !== false,
    };
    const timeoutS = config.timeout === undefined || config.timeout === '' ? 60 : Number(config.timeout);
    const waiting = new Map<string, Waiting[]>();
    let seen = 0;
    let answered = 0;
    let connState: ConnectionState | 'invalid' = 'connecting';

    const showStatus = () => {
      node.status({
        ...statusLook(connState),
        text: RED._('device-responder.status.counts', { state: RED._(`device-responder.state.${connState}`), seen, answered }),
      });
    };

    const device = useDevice(RED, node, config.device, 'device-responder', (state) => {
      connState = state;
      showStatus();
    });
    if (!device) return;
    const { agent } = device;

    // answers not sent (a broker outage fails every answer under way at once): the first of each
    // reason is said at once, the others counted and said once a minute, not one line per device
    let lastNotSent: { reqId: string; err: Error } | undefined;
    const notSentLog = new OnceAMinute((_reason, count) => {
      const { reqId, err } = lastNotSent!;
      if (count > 1) node.error(RED._('device-responder.errors.publish-count', { count, error: err.message }));
      else node.error(RED._('device-responder.errors.publish', { reqId, error: err.message }));
    });
    const notSent = (reqId: string, err: Error) => {
      lastNotSent = { reqId, err };
      notSentLog.note(reasonOf(err.message));
    };
    // the flow's manages and answers that the transport failed (every device of a gateway at once in
    // a broker outage): the first of each reason goes to the Catch nodes, the others are counted
    let failedNow: { text: string; msg: NodeMessageInFlow; count: number } | undefined;
    const transportLog = new OnceAMinute((_reason, count) => {
      failedNow!.count = count;
    });
    const transportFailed = (err: Error, text: string, msg: NodeMessageInFlow, done: () => void) => {
      failedNow = { text, msg, count: 0 };
      transportLog.note(reasonOf(err.message));
      if (failedNow.count === 1) node.error(text, msg);
      else if (failedNow.count > 1) node.error(RED._('device-responder.errors.transport-count', { count: failedNow.count, error: text }), msg);
      done();
    };

    const answer = (w: Waiting, rc: number, message?: string) => {
      clearTimeout(w.timer);
      const list = waiting.get(w.req.reqId);
      if (list) {
        const rest = list.filter((x) => x !== w);
        if (rest.length) waiting.set(w.req.reqId, rest);
        else waiting.delete(w.req.reqId);
      }
      const p = w.req.reply(rc, message);
      answered++;
      showStatus();
      return p;
    };

    const handler: DmHandler = {
      name: `device-responder ${node.id}`,
      actions: ['reboot', 'factoryReset'],
      supports: { deviceActions: supported['device/reboot'] || supported['device/factoryReset'] },
      onAction(req) {
        const action = ACTION_OF[req.action];
        seen++;
        if (!supported[action]) {
          // the wire message is protocol data for the platform, in English
          void answer({ req }, 501, `${action} is not supported by this device`).catch((err: Error) => notSent(req.reqId, err));
          return;
        }
        const out = { topic: action, payload: { action, reqId: req.reqId, typeId: req.device.typeId, deviceId: req.device.deviceId } satisfies ActionMessage };
        if (mode === 'auto') {
          // answer first, then act: the flow may restart the process (docs/protocol.md §7.4)
          answer({ req }, 202).then(
            () => node.send(out),
            (err: Error) => notSent(req.reqId, err),
          );
          return;
        }
        const w: Waiting = { req };
        if (timeoutS > 0) {
          w.timer = setTimeout(() => {
            node.warn(RED._('device-responder.errors.flow-timeout', { reqId: req.reqId, device: deviceKey(req.device), timeout: timeoutS }));
            answer(w, 500, RED._('device-responder.errors.flow-no-answer', { timeout: timeoutS })).catch(() => undefined);
          }, timeoutS * 1000);
        }
        waiting.set(req.reqId, [...(waiting.get(req.reqId) ?? []), w]);
        showStatus();
        node.send(out);
      },
    };
    try {
      agent.addHandler(handler);
    } catch (err) {
      node.error(RED._('device-responder.errors.add-handler', { error: (err as Error).message }));
    }
    showStatus();

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      const fail = (text: string) => {
        node.error(text, msg);
        done();
      };
      if (msg.topic === 'addDevice' || msg.topic === 'removeDevice') {
        // a gateway's bridged devices (BLE, Modbus, serial) come and go: {typeId, deviceId} or a list of them
        const list = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
        const devices = list.filter(
          (d): d is DeviceRef => !!d && typeof d === 'object' && isValidId((d as DeviceRef).typeId) && isValidId((d as DeviceRef).deviceId),
        );
        if (devices.length === 0 || devices.length !== list.length || list.length > MAX_DEVICES) {
          return fail(RED._('device-responder.errors.invalid-device-list', { max: MAX_DEVICES }));
        }
        const adding = msg.topic === 'addDevice';
        Promise.allSettled(devices.map((d) => (adding ? agent.addDevice(d) : agent.removeDevice(d)))).then(
          (results) => {
            const failed = results.map((r, i) => [r, devices[i]] as const).filter(([r]) => r.status === 'rejected' || (r.value && r.value.rc !== 200));
            if (failed.length === 0) return done();
            const [r, d] = failed[0];
            const error = r.status === 'rejected' ? (r.reason as Error).message : `rc ${r.value!.rc} ${r.value!.message ?? ''}`;
            fail(
              RED._(`device-responder.errors.${adding ? 'add-device' : 'remove-device'}`, { device: `${d.typeId}:${d.deviceId}`, error, count: failed.length }),
            );
          },
          (err: Error) => fail(err.message),
        );
        return;
      }
      if (msg.topic === 'manage') {
        let payload: ManageMessage;
        try {
          payload = validateManage(msg.payload === undefined ? null : msg.payload);
        } catch (err) {
          return fail(RED._('device-responder.errors.invalid-manage', { error: (err as Error).message }));
        }
        const device: DeviceRef = payload && typeof payload === 'object' ? payload : agent.identity;
        if (!agent.isOurs(device)) return fail(RED._('device-responder.errors.not-ours', { device: `${device.typeId}:${device.deviceId}` }));
        agent.manage(device).then(
          (r) => {
            if (r.rc === 200) done();
            else fail(RED._('device-responder.errors.manage-rc', { device: `${device.typeId}:${device.deviceId}`, rc: r.rc, message: r.message ?? '' }));
          },
          (err: Error) =>
            transportFailed(err, RED._('device-responder.errors.manage', { device: `${device.typeId}:${device.deviceId}`, error: err.message }), msg, done),
        );
        return;
      }
      let a: AnswerMessage;
      try {
        a = validateAnswer(msg.payload);
      } catch (err) {
        return fail(RED._('device-responder.errors.invalid-answer', { error: (err as Error).message }));
      }
      const list = waiting.get(a.reqId) ?? [];
      const matches = a.typeId ? list.filter((w) => w.req.device.typeId === a.typeId && w.req.device.deviceId === a.deviceId) : list;
      if (matches.length === 0) return fail(RED._('device-responder.errors.unknown-reqid', { reqId: a.reqId }));
      if (matches.length > 1) return fail(RED._('device-responder.errors.ambiguous', { reqId: a.reqId, count: matches.length }));
      answer(matches[0], a.rc, a.message).then(
        () => done(),
        (err: Error) => transportFailed(err, RED._('device-responder.errors.publish', { reqId: a.reqId, error: err.message }), msg, done),
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      agent.removeHandler(handler);
      device.release();
      for (const list of waiting.values()) for (const w of list) clearTimeout(w.timer);
      waiting.clear();
      done();
    });
  }

  RED.nodes.registerType('iotdm-device-responder', DeviceResponder as never);
};
