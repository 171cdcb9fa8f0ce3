import assert from 'node:assert/strict';
import { call, basic, until } from '../http/support';
import { demoSession, DEMO_PLATFORM, API } from './support';

const P = `/iotdm/platforms/${DEMO_PLATFORM}`;

/** The sidebar's rollouts: their list with a bar's counts per wave, and the approve button's route, on the demo. */
describe('sidebar: rollouts on a real Node-RED with adminAuth', function () {
  this.timeout(40000);
  const s = demoSession();

  it('lists a rollout with its waves, refuses approve to a reader, and approves for a writer', async () => {
    const auth = basic(API.key, API.token);
    const created = await call(s.base, 'POST', '/api/v0002/mgmt/rollouts', {
      auth,
      body: { name: 'sims', action: 'device/reboot', select: { typeId: 'sim' }, waves: [{ size: 10, gate: { approval: true } }, { size: 90 }] },
    });
    assert.equal(created.status, 202, created.text);
    const id = created.json.rolloutId;
    const waiting = await until(
      async () => {
        const r = await call(s.base, 'GET', `${P}/rollouts`, { auth: s.viewer });
        const d = r.json.rollouts.find((x: { rolloutId: string }) => x.rolloutId === id);
        return d?.state === 'waitingApproval' && d;
      },
      20000,
      'waiting for approval',
    );
    assert.equal(waiting.name, 'sims');
    assert.equal(waiting.definition, undefined);
    assert.deepEqual(
      waiting.waves.map((w: { size: number; counts: { success: number } }) => [w.size, w.counts.success]),
      [
        [10, 10],
        [90, 0],
      ],
    );
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/approve`, { auth: s.viewer, body: {} })).status, 401); // Node-RED's answer to a missing permission
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/explode`, { auth: s.admin, body: {} })).status, 404);
    const approved = await call(s.base, 'POST', `${P}/rollouts/${id}/approve`, { auth: s.admin, body: {} });
    assert.equal(approved.status, 200, approved.text);
    assert.equal(approved.json.state, 'running');
    assert.equal((await call(s.base, 'POST', `${P}/rollouts/${id}/approve`, { auth: s.admin, body: {} })).status, 409);
    await until(
      async () => {
        const r = await call(s.base, 'GET', `${P}/rollouts`, { auth: s.viewer });
        return r.json.rollouts.find((x: { rolloutId: string }) => x.rolloutId === id)?.state === 'completed';
      },
      20000,
      'completed',
    );
  });
});
