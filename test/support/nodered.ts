/**
 * node-red-node-test-helper started against the Node-RED of test/support/red.ts (4.1, or 5.0 with
 * IOTDM_NODE_RED=node-red-5), for any node
 * test of this package: load a flow with our node modules, wait for messages or calls on a node,
 * unload. The helper spies on every node's log/status/warn/error/send, so a test can assert that
 * `node.error(err, msg)` was called.
 */
import { RED_MAIN } from './red';
const helper = require('node-red-node-test-helper');

let initialised = false;

/** The initialised helper (Node-RED as test/support/red.ts chooses it). */
export function nodeRedHelper(): any {
  if (!initialised) {
    helper.init(RED_MAIN);
    initialised = true;
  }
  return helper;
}

export type NodeModule = (RED: any) => void | Promise<void>;
export type FlowNode = { id: string; type: string; [k: string]: unknown };

/**
 * Load a flow. `nodes` are the node modules (the compiled `dist/nodes/*.js` exports), `credentials`
 * are keyed by node id, as Node-RED keeps them (never in the flow itself).
 */
export async function loadFlow(nodes: NodeModule[], flow: FlowNode[], credentials: Record<string, Record<string, string>> = {}): Promise<void> {
  await nodeRedHelper().load(nodes, flow, credentials);
}

/** Stop the flow: every node's close handler runs. */
export async function unloadFlow(): Promise<void> {
  await nodeRedHelper().unload();
}

export function getNode<T = any>(id: string): T {
  const n = nodeRedHelper().getNode(id);
  if (!n) throw new Error(`node ${id} is not in the flow`);
  return n as T;
}

/** Next message a node receives on its input (use a `helper` node wired to the output under test). */
export function nextMessage(nodeId: string, timeoutMs = 5000, pred: (msg: any) => boolean = () => true): Promise<any> {
  const n = getNode(nodeId);
  return new Promise((resolve, reject) => {
    const onInput = (msg: any) => {
      if (!pred(msg)) return;
      clearTimeout(t);
      n.removeListener('input', onInput);
      resolve(msg);
    };
    const t = setTimeout(() => {
      n.removeListener('input', onInput);
      reject(new Error(`no message at ${nodeId} within ${timeoutMs} ms`));
    }, timeoutMs);
    n.on('input', onInput);
  });
}

/** Collect every message a node receives from now on. */
export function collect(nodeId: string): any[] {
  const got: any[] = [];
  getNode(nodeId).on('input', (msg: any) => got.push(msg));
  return got;
}

/**
 * Wait until `method` ('error', 'warn', 'status', 'send', 'log') of a node has been called with
 * arguments that match `pred` (calls made before this wait count too).
 */
export async function waitForCall(
  nodeId: string,
  method: 'error' | 'warn' | 'status' | 'send' | 'log',
  pred: (args: any[]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<any[]> {
  const n = getNode(nodeId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const calls = callsOn(n, method);
    const found = calls.find((c) => pred(c.args));
    if (found) return found.args;
    if (Date.now() > deadline) {
      throw new Error(`${nodeId}.${method} not called as expected within ${timeoutMs} ms; calls: ${JSON.stringify(calls.map((c) => c.args.map(String)))}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The arguments of every call of `method` on a node so far. */
export function callsOf(nodeId: string, method: 'error' | 'warn' | 'status' | 'send' | 'log'): any[][] {
  return callsOn(getNode(nodeId), method).map((c) => c.args);
}

// the helper's spies sit on the shared Node prototype: keep the calls made on this node
function callsOn(n: any, method: string): { args: any[] }[] {
  const calls: { args: any[]; thisValue: unknown }[] = n[method]?.getCalls?.() ?? [];
  return calls.filter((c) => c.thisValue === n);
}
