/**
 * Node `firmware-state` (type `iotdm-firmware-state`): the `mgmt.firmware` attribute of every device
 * of its `iotdm-device` (docs/protocol.md §3.6-3.9). A thin wrapper over FirmwareHandler
 * (nodes/device/firmware-handler.ts): adds it to the device's agent as a handler, sends its download /
 * install commands on the output, feeds the flow's progress messages into it, keeps its state in
 * the node context (so a downloaded image is still "downloaded" after a restart), and optionally
 * runs the built-in downloader (nodes/device/firmware-downloader.ts).
 */
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { ConnectionState } from './protocol/link';
import { FirmwareHandler } from './device/firmware-handler';
import { downloadFirmware } from './device/firmware-downloader';
import { ValidationError } from './protocol/validate';
import type { FirmwareCommand } from './device/firmware-messages';
import { configNumber } from './shared/config-number';
import { ContextSlot } from './shared/context-slot';
import { useDevice, statusLook } from './shared/handler-node';

const STATE_KEY = 'iotdm-firmware';

interface FirmwareStateDef extends NodeDef {
  device: string;
  /** who downloads: the user's flow, or the node itself */
  downloader?: 'flow' | 'builtin';
  folder?: string;
  /** MiB */
  maxSize?: string | number;
  /** "auto": 202 at once; "flow": the flow's verdict answers the initiate */
  answer?: 'auto' | 'flow';
  /** seconds the flow has to give its verdict (answer "flow"); 0 = no limit */
  timeout?: string | number;
  contextStore?: string;
}

export = function (RED: NodeAPI): void {
  function FirmwareStateNode(this: Node, config: FirmwareStateDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const store = config.contextStore || undefined;
    let connState: ConnectionState | 'invalid' = 'connecting';
    let handler: FirmwareHandler | undefined;
    let closed = false;

    const showStatus = () => {
      const c = handler?.counts() ?? { idle: 0, downloading: 0, downloaded: 0, installing: 0 };
      node.status({
        ...statusLook(connState),
        text: RED._('firmware-state.status.counts', { state: RED._(`firmware-state.state.${connState}`), ...c }),
      });
    };

    const device = useDevice(RED, node, config.device, 'firmware-state', (state) => {
      connState = state;
      showStatus();
    });
    if (!device) return;
    const { agent } = device;

    const builtin = config.downloader === 'builtin';
    const folder = path.resolve(config.folder || path.join(RED.settings.userDir ?? '.', 'firmware'));
    const maxBytes = configNumber(config.maxSize, 256) * 1024 * 1024;
    const download = builtin
      ? (cmd: FirmwareCommand) =>
          // one folder per device: a gateway's devices may fetch images of the same name at once
          downloadFirmware({ uri: cmd.uri, name: cmd.name, verifier: cmd.verifier, folder: path.join(folder, `${cmd.typeId}_${cmd.deviceId}`), maxBytes })
      : undefined;

    // persistence: one snapshot of every device, written shortly after changes and on close
    const saved = new ContextSlot(node, {
      key: STATE_KEY,
      store,
      delayMs: 50,
      value: () => handler?.snapshot(),
      warn: (what, err) => node.warn(RED._(`firmware-state.errors.${what}`, { error: err.message })),
    });
    let statusTimer: NodeJS.Timeout | undefined;

    const start = (restored: unknown) => {
      if (closed) return;
      const h = new FirmwareHandler(agent, {
        answer: config.answer === 'flow' ? 'flow' : 'auto',
        answerTimeoutMs: configNumber(config.timeout, 60) * 1000,
        download,
        restore: restored,
      });
      h.on('command', (cmd) => node.send({ topic: cmd.command, payload: cmd }));
      h.on('change', () => {
        saved.changed();
        if (!statusTimer) {
          statusTimer = setTimeout(() => {
            statusTimer = undefined;
            showStatus();
          }, 200);
        }
      });
      h.on('warning', (text) => node.warn(RED._('firmware-state.errors.warning', { text })));
      h.on('downloaded', (device, result) => {
        if (!result.ok)
          node.warn(
            RED._('firmware-state.errors.download', { device: `${device.typeId}:${device.deviceId}`, status: result.updateStatus, error: result.message }),
          );
      });
      try {
        agent.addHandler(h);
      } catch (err) {
        node.error(RED._('firmware-state.errors.add-handler', { error: (err as Error).message }));
        return;
      }
      handler = h;
      if (builtin) h.interruptedDownloads();
      showStatus();
    };
    saved.restore(start);

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: () => void) => {
      if (!handler) {
        node.error(RED._('firmware-state.errors.not-ready'), msg);
        return done();
      }
      try {
        handler.input(msg.payload);
      } catch (err) {
        const key = err instanceof ValidationError ? 'firmware-state.errors.invalid-input' : 'firmware-state.errors.refused';
        node.error(RED._(key, { error: (err as Error).message }), msg);
      }
      done();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      if (handler) {
        handler.close();
        agent.removeHandler(handler);
        saved.save();
      }
      clearTimeout(statusTimer);
      device.release();
      done();
    });
  }

  RED.nodes.registerType('iotdm-firmware-state', FirmwareStateNode as never);
};
