/**
 * IBM's current C SDK (iot-c) speaks MQTT 5 only; aedes 1.x answers its CONNECT with CONNACK 1 and
 * says nothing. The platform says who was refused and why, once a minute per client, in its log and
 * in the status of the nodes that use it (docs/protocol.md §10).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { loadFlow, unloadFlow, getNode, nodeRedHelper, callsOf, waitForCall } from '../support/nodered';
import { freePort } from '../support/ports';
import { OnceAMinute, excerpt } from '../../nodes/shared/once-a-minute';

const platformNode = require('../../nodes/iotdm-platform');
const mgmtRequestNode = require('../../nodes/mgmt-request');

/** One MQTT 5 CONNECT: resolves with the CONNACK's error (mqtt.js rejects the connection). */
async function connectV5(port: number, clientId: string): Promise<Error> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 3000 });
  try {
    return await new Promise<Error>((resolve, reject) => {
      client.once('error', resolve);
      client.once('connect', () => reject(new Error('an MQTT 5 client was let in')));
    });
  } finally {
    client.end(true);
  }
}

describe('compat: an MQTT 5 client on the embedded broker', function () {
  this.timeout(20000);
  let port: number;

  before(async () => {
    nodeRedHelper();
    port = await freePort();
    await loadFlow(
      [platformNode, mgmtRequestNode],
      [
        { id: 'tab', type: 'tab', label: 'mqtt5' },
        { id: 'p', type: 'iotdm-platform', access: 'development', broker: 'embedded', port, bind: '127.0.0.1' },
        { id: 'r', type: 'iotdm-mgmt-request', z: 'tab', platform: 'p', wires: [[], [], []] },
      ],
    );
    await getNode('p').ready;
  });
  after(() => unloadFlow());

  it('is refused with one log line and a status that name the client and the way out', async () => {
    const err = await connectV5(port, 'd:org:iotc:dev-1');
    assert.match(err.message, /protocol/i, 'CONNACK 1: unacceptable protocol version');
    const args = await waitForCall('p', 'warn', (a) => String(a[0]).includes('protocol-refused'));
    assert.ok(args, 'the platform logged the refusal');
    await waitForCall('r', 'status', (a) => String(a[0]?.text).includes('protocol-refused') && a[0]?.fill === 'yellow');
    // the catalogue says it in words (the test helper's RED._ gives keys)
    const en = JSON.parse(fs.readFileSync(path.join(__dirname, '../../nodes/locales/en-US/iotdm-platform.json'), 'utf8'));
    assert.match(
      en['iotdm-platform'].log['protocol-refused'],
      /^MQTT 5 client __clientId__ refused: the embedded broker speaks MQTT 3\.1\.1; use an external broker for MQTT 5 devices/,
    );
  });

  it('says it once a minute per client however often the client retries, and lets MQTT 3.1.1 in', async () => {
    const before = callsOf('p', 'warn').filter((a) => String(a[0]).includes('protocol-refused')).length;
    for (let i = 0; i < 5; i++) await connectV5(port, 'd:org:iotc:dev-2');
    const after = callsOf('p', 'warn').filter((a) => String(a[0]).includes('protocol-refused')).length;
    assert.equal(after - before, 1, 'five refusals of one client, one line');
    const ok = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'd:org:iotc:dev-3', reconnectPeriod: 0 });
    await ok.endAsync();
  });
});

describe('shared/once-a-minute', () => {
  it('says a key at once, holds back repeats for a minute, then says them with their count', () => {
    let t = 0;
    const said: [string, number][] = [];
    const o = new OnceAMinute(
      (k, n) => said.push([k, n]),
      () => t,
    );
    o.note('a');
    o.note('a');
    o.note('b');
    t = 59_999;
    o.note('a');
    assert.deepEqual(said, [
      ['a', 1],
      ['b', 1],
    ]);
    t = 60_000;
    o.note('a');
    assert.deepEqual(said[2], ['a', 3], 'the two held back and this one');
  });

  it('keeps at most a thousand keys', () => {
    const t = 0;
    let n = 0;
    const o = new OnceAMinute(
      () => n++,
      () => t,
    );
    for (let i = 0; i < 5000; i++) o.note(`k${i}`);
    assert.equal(n, 5000);
    assert.ok((o as unknown as { seen: Map<string, unknown> }).seen.size <= 1000);
  });

  it('escapes control characters and caps what the sender chose', () => {
    assert.equal(excerpt('d:o:t:\u0000x\n'), 'd:o:t:\\u0000x\\u000a');
    assert.equal(excerpt('x'.repeat(100), 10), `${'x'.repeat(10)}…`);
  });
});
