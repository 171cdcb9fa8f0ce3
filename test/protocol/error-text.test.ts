/**
 * Schema errors in words (nodes/protocol/error-text.ts): what a person reads in an HTTP 400, a
 * mgmt-request answer or a device's rc 400 message, and the validator's paths kept for tools.
 */
import assert from 'node:assert/strict';
import { check, ValidationError } from '../../nodes/protocol/validate';

function refusal(body: unknown): ValidationError {
  try {
    check('mgmtRequestBody', body);
  } catch (err) {
    return err as ValidationError;
  }
  throw new Error(`accepted: ${JSON.stringify(body)}`);
}

const one = [{ typeId: 'thermo', deviceId: 't-1' }];

describe('protocol/schema errors in words', () => {
  const cases: [unknown, string, string[]][] = [
    [{ devices: one }, 'action is missing', ['/action']],
    [
      { action: 'reboot', devices: one },
      'action must be one of device/reboot, device/factoryReset, firmware/download, firmware/update, or a custom action written bundleId/actionId (letters, digits and _ . - on each side of the slash)',
      ['/action'],
    ],
    [{ action: 'device/reboot' }, 'devices is missing', ['/devices']],
    [{ action: 'device/reboot', devices: [] }, 'devices must list at least one item', ['/devices']],
    [{ action: 'device/reboot', devices: [{ typeId: 'thermo' }] }, 'devices[0].deviceId is missing', ['/devices/0/deviceId']],
    [
      { action: 'device/reboot', devices: [{ typeId: 'a b', deviceId: 'x' }] },
      'devices[0].typeId must be 1 to 36 characters: letters, digits, _ . -',
      ['/devices/0/typeId'],
    ],
    [{ action: 'device/reboot', devices: one, timeout: 0 }, 'timeout must be more than 0', ['/timeout']],
    [{ action: 'device/reboot', devices: one, timeout: '5' }, 'timeout must be a number', ['/timeout']],
    [{ action: 'device/reboot', devices: one, extra: 1 }, 'the body has a field it does not take: "extra"', ['']],
    ['reboot', 'the body must be an object', ['']],
  ];
  for (const [body, text, paths] of cases) {
    it(`${JSON.stringify(body).slice(0, 70)} → "${text.slice(0, 50)}"`, () => {
      const e = refusal(body);
      assert.equal(e.message, text);
      assert.deepEqual(e.paths, paths);
      // never the validator's own wording
      assert.doesNotMatch(e.message, /anyOf|must NOT|must have required property|\(root\)/);
    });
  }

  it('a sender-chosen key is quoted as an escaped excerpt, not whole', () => {
    const key = `k${'\u0007'.repeat(3)}${'x'.repeat(5000)}`;
    const e = refusal({ action: 'device/reboot', devices: one, [key]: 1 });
    assert.ok(e.message.length < 200, `${e.message.length} characters`);
    assert.match(e.message, /\\u0007/);
  });
});
