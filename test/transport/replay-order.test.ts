import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { Connection } from '../../nodes/transport/connection';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto';
import { waitFor } from '../support/wait';

/**
 * After a broker crash, the requests a Connection held (published while the broker was down) are
 * re-sent only once its subscription for the answers is back: a responder that reconnected first
 * answers each replayed request at once, and not one answer may be lost (issue 11).
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
    broker = await startMosquitto();
    // the responder answers req/N on ans/N; it reconnects fast and subscribes again by itself
    responder = mqtt.connect(broker.url, { protocolVersion: 4, clientId: 'responder', reconnectPeriod: 50, clean: true });
    const r = responder;
    r.on('connect', () => r.subscribe('req/#', { qos: 1 }));
    r.on('message', (topic, payload) => r.publish(`ans/${topic.slice(4)}`, payload, { qos: 1 }));
    await waitFor(() => r.connected, 'responder connect', 10000);
    conn = new Connection({ url: broker.url, clientId: 'asker', reconnectPeriod: 400 });
    const answers = new Set<string>();
    conn.subscribe('ans/#', 1, (topic) => answers.add(topic));
    await waitFor(() => conn!.state === 'connected', 'asker connect', 10000);
    await new Promise((res) => setTimeout(res, 100)); // both SUBACKs
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
