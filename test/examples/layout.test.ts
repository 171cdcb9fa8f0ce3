/**
 * Example layouts as the editor draws them: no node cut off at the canvas' left edge, and no node
 * status (drawn under its node) hidden by the node below it. Node widths are estimated as the editor
 * sizes them: at least 100 px, else the label at about 7.2 px a character plus icon and ports.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { EXAMPLES, readExample, type FlowNode } from './flows';

const WITH_STATUS = new Set(['iotdm-mgmt-request', 'iotdm-device-responder', 'iotdm-firmware-state', 'iotdm-rollout']);
const width = (n: FlowNode) => Math.max(100, 7.2 * String(n.name || n.type.replace(/^iotdm-/, '')).length + 60);
const hasStatus = (n: FlowNode) => WITH_STATUS.has(n.type) || (n.type === 'debug' && !!n.tostatus);
const nameOf = (n: FlowNode) => `${String(n.name || n.type)} (${String(n.x)}, ${String(n.y)})`;

describe('examples: layouts', () => {
  for (const file of fs
    .readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    it(`${file}: no node cut off at the left edge, no status under another node`, () => {
      const nodes = readExample(file).filter((n) => n.z && typeof n.x === 'number' && typeof n.y === 'number');
      const bad: string[] = [];
      for (const n of nodes) {
        if ((n.x as number) - width(n) / 2 < 0) bad.push(`${nameOf(n)} is cut off at the left edge`);
        if (!hasStatus(n)) continue;
        for (const m of nodes) {
          if (m === n || m.z !== n.z) continue;
          const below = (m.y as number) - (n.y as number);
          // the status line sits about 20–32 px below the node's centre; a node's top is 15 px above its centre
          if (below > 0 && below < 45 && Math.abs((m.x as number) - (n.x as number)) < (width(m) + width(n)) / 2 - 10)
            bad.push(`the status of ${nameOf(n)} is under ${nameOf(m)}`);
        }
      }
      assert.deepEqual(bad, []);
    });
  }
});
