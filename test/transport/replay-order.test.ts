import assert from 'node:assert/strict';
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { Connection } from '../../nodes/transport/connection';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto';
import { waitFor } from '../support/wait';

/**
 * After a broker crash, the requests a Connection held (published while the broker was down) are
 * re-sent only once its subscription for the answers is back: the responder answers each replayed
 * request at once, and not one answer may be lost (issue 11).
 * The responder's subscription must not be what the test races: it has a persistent session that
 * mosquitto saves at every change, so after the restart its requests are queued for it even when
 * the asker reconnects first (the asker's own session is clean: its subscription is what is tested).
 */
describe('transport/connection: subscriptions before replay (mosquitto SIGKILLed)', function () {
  this.timeout(30000);
  let broker: RunningMosquitto | undefined;
  let conn: Connection | undefined;
  let responder: MqttClient | undefined;
  afterEach(async () => {
    await responder?.endAsync(true);
    await conn?.close(1000);
    await broker?.stop();
  });

  it('every request held during the outage is answered after the restart', async () => {
    broker = await startMosquitto('persistence true\nautosave_on_changes true\nautosave_interval 1');
    // the responder answers req/N on ans/N; its session (and subscription) outlives the crash
    responder = mqtt.connect(broker.url, { protocolVersion: 4, clientId: 'responder', reconnectPeriod: 50, clean: false });
    const r = responder;
    let subscribed = false;
    r.on('connect', () => r.subscribe('req/#', { qos: 1 }, () => (subscribed = true)));
    r.on('message', (topic, payload) => r.publish(`ans/${topic.slice(4)}`, payload, { qos: 1 }));
    await waitFor(() => subscribed, 'responder subscribed', 10000);
    const db = broker.persistenceFile;
    await waitFor(() => fs.existsSync(db), 'mosquitto to save the responder session', 10000);
    conn = new Connection({ url: broker.url, clientId: 'asker', reconnectPeriod: 400 });
    const answers = new Set<string>();
    conn.subscribe('ans/#', 1, (topic) => answers.add(topic));
    await waitFor(() => conn!.state === 'connected', 'asker connect (its SUBACK in)', 10000);
    await conn.publish('req/warm', 'x');
    await waitFor(() => answers.has('ans/warm'), 'an answer before the crash', 10000);

    await broker.kill();
    await waitFor(() => conn!.state === 'disconnected', 'the asker sees the outage', 10000);
    const N = 200;
    const acks: Promise<void>[] = [];
    for (let i = 0; i < N; i++) acks.push(conn.publish(`req/${i}`, String(i)));
    await broker.restart();
    await waitFor(() => conn!.state === 'connected', 'asker reconnect', 10000);
    await Promise.all(acks);
    await waitFor(() => answers.size === N + 1, `all ${N} answers (got ${answers.size - 1})`, 10000).catch(() => undefined);
    const missing = Array.from({ length: N }, (_, i) => `ans/${i}`).filter((t) => !answers.has(t));
    assert.deepEqual(missing, [], `${missing.length} answers lost`);
  });
});
