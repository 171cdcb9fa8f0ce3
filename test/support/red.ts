/**
 * Which Node-RED the tests run against: the devDependency `node-red` (4.1) by default, or the one
 * named by IOTDM_NODE_RED, e.g. `node-red-5` (the npm alias of node-red@5.0, run under Node 22:
 * see .ci/run). Everything a test takes from Node-RED (the runtime, red.js, the core nodes, the
 * modules Node-RED itself depends on) is resolved from that package's folder.
 */
import path from 'node:path';

export const RED_PACKAGE = process.env.IOTDM_NODE_RED || 'node-red';
export const RED_DIR = path.dirname(require.resolve(`${RED_PACKAGE}/package.json`));
export const RED_VERSION: string = require(`${RED_PACKAGE}/package.json`).version;

/** Resolve a module as the chosen Node-RED resolves it (e.g. '@node-red/nodes/core/common/20-inject.js'). */
export function redResolve(id: string): string {
  return require.resolve(id, { paths: [RED_DIR] });
}

/** require() a module as the chosen Node-RED would. */
export function redRequire<T = any>(id: string): T {
  return require(redResolve(id)) as T;
}

/** The entry module of the chosen Node-RED (what node-red-node-test-helper's init() takes). */
export const RED_MAIN = require.resolve(RED_PACKAGE);
/** red.js of the chosen Node-RED (what a Node-RED process runs). */
export const RED_JS = path.join(RED_DIR, 'red.js');
