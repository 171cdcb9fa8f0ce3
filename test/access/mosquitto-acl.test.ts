/**
 * The README's mosquitto configuration, run by Debian's mosquitto: the ACL block is read from the
 * README itself, the users are made with mosquitto_passwd. The same doors as on the embedded broker:
 * no anonymous client, no wrong token, a device in its own scope only, a gateway for its devices
 * only, an application that reads but cannot publish as a device.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto';
import { attempt, until } from './support';

const ROOT = path.join(__dirname, '..', '..', '..');
const USERS: Record<string, string> = {
  'thermo/id/t-1': 'token-t-1',
  'thermo/id/t-2': 'token-t-2',
  'gateway/id/gw-1': 'token-gw-1',
  'iotdm-platform': 'token-platform',
  'app-reader': 'token-reader',
};

function readmeAcl(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- mosquitto-acl[^>]*-->\s*```[a-z]*\n([\s\S]*?)```\s*<!-- \/mosquitto-acl -->/.exec(readme);
  if (!m) throw new Error('the README has no mosquitto ACL block');
  return m[1];
}

describe('access: the README mosquitto configuration (password file and ACL patterns)', function () {
  this.timeout(30000);
  let broker: RunningMosquitto;
  const open: MqttClient[] = [];
  const login = async (user: string, password = USERS[user]) => {
    const a = await attempt(broker.url, { clientId: `c-${user.replace(/\W/g, '-')}-${open.length}`, username: user, password });
    assert.ok(a.client, `${user}: ${a.error?.message}`);
    open.push(a.client);
    const got: string[] = [];
    a.client.on('message', (t) => got.push(t));
    return { client: a.client, got };
  };

  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-acl-'));
    const passwords = path.join(dir, 'passwords');
    fs.writeFileSync(passwords, '');
    for (const [user, token] of Object.entries(USERS)) {
      const r = spawnSync('mosquitto_passwd', ['-b', passwords, user, token]);
      if (r.status !== 0) throw new Error(`mosquitto_passwd: ${r.stderr}`);
    }
    const acl = path.join(dir, 'acl');
    fs.writeFileSync(acl, readmeAcl());
    // mosquitto started as root reads its files as the user mosquitto
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(passwords, 0o644);
    fs.chmodSync(acl, 0o644);
    broker = await startMosquitto(`allow_anonymous false\npassword_file ${passwords}\nacl_file ${acl}`);
  });
  after(async () => {
    for (const c of open) c.end(true);
    await broker?.stop();
  });

  it('refuses an anonymous client and a wrong or borrowed token', async () => {
    assert.ok((await attempt(broker.url, { clientId: 'anon' })).error);
    assert.ok((await attempt(broker.url, { clientId: 'x', username: 'thermo/id/t-1', password: 'wrong' })).error);
    assert.ok((await attempt(broker.url, { clientId: 'x', username: 'thermo/id/t-1', password: USERS['thermo/id/t-2'] })).error);
    assert.ok((await attempt(broker.url, { clientId: 'x', username: 'use-token-auth', password: USERS['thermo/id/t-1'] })).error);
  });

  it('keeps a device in its own scope, a gateway to its devices, an application to reading', async () => {
    const platform = await login('iotdm-platform');
    await platform.client.subscribeAsync('iotdevice-1/type/+/id/+/#', { qos: 1 });
    const t1 = await login('thermo/id/t-1');
    await t1.client.subscribeAsync(['#', 'iotdm-1/type/+/id/+/#'], { qos: 1 }).catch(() => undefined);
    const gw = await login('gateway/id/gw-1');
    await gw.client.subscribeAsync('iotdm-1/type/+/id/+/#', { qos: 1 }).catch(() => undefined);
    const app = await login('app-reader');
    await app.client.subscribeAsync('iotdevice-1/#', { qos: 1 });

    // what is allowed arrives
    await t1.client.publishAsync('iotdevice-1/type/thermo/id/t-1/mgmt/manage', '{}', { qos: 1 });
    await gw.client.publishAsync('iotdevice-1/type/sim/id/sim-001/mgmt/manage', '{}', { qos: 1 });
    await gw.client.publishAsync('iotdevice-1/type/gateway/id/gw-1/mgmt/manage', '{}', { qos: 1 });
    await platform.client.publishAsync('iotdm-1/type/thermo/id/t-1/mgmt/initiate/device/reboot', '{}', { qos: 1 });
    await platform.client.publishAsync('iotdm-1/type/sim/id/sim-001/mgmt/initiate/device/reboot', '{}', { qos: 1 });
    // what is not is dropped
    await t1.client.publishAsync('iotdevice-1/type/thermo/id/t-2/mgmt/manage', '{}', { qos: 1 });
    await t1.client.publishAsync('iotdm-1/type/thermo/id/t-2/mgmt/initiate/device/reboot', '{}', { qos: 1 });
    await gw.client.publishAsync('iotdevice-1/type/thermo/id/t-2/mgmt/manage', '{}', { qos: 1 });
    await app.client.publishAsync('iotdevice-1/type/thermo/id/t-2/mgmt/manage', '{}', { qos: 1 });
    await platform.client.publishAsync('iotdm-1/type/thermo/id/t-2/mgmt/initiate/device/reboot', '{}', { qos: 1 });
    await platform.client.publishAsync('iotdm-1/type/thermo/id/t-10/mgmt/initiate/device/reboot', '{}', { qos: 1 });

    await until(() => platform.got.length >= 3 && t1.got.length >= 1 && gw.got.length >= 1 && app.got.length >= 3, 5000, 'the allowed messages');
    // a last message through each path, so that anything refused would have arrived before it
    await platform.client.publishAsync('iotdm-1/type/thermo/id/t-1/response', '{}', { qos: 1 });
    await until(() => t1.got.includes('iotdm-1/type/thermo/id/t-1/response'), 5000, 'the marker');
    await new Promise((r) => setTimeout(r, 200));

    assert.deepEqual(platform.got.sort(), [
      'iotdevice-1/type/gateway/id/gw-1/mgmt/manage',
      'iotdevice-1/type/sim/id/sim-001/mgmt/manage',
      'iotdevice-1/type/thermo/id/t-1/mgmt/manage',
    ]);
    assert.deepEqual(t1.got.sort(), ['iotdm-1/type/thermo/id/t-1/mgmt/initiate/device/reboot', 'iotdm-1/type/thermo/id/t-1/response']);
    assert.deepEqual(gw.got, ['iotdm-1/type/sim/id/sim-001/mgmt/initiate/device/reboot']);
    assert.deepEqual(app.got.sort(), platform.got.sort());
  });
});
