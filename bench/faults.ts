/**
 * Simulated device faults, shared by the bench's simulator and the tests' fleet: chosen devices
 * fail (rc 500), time out (no answer) or, after a firmware update, manage again reporting their old
 * version. A rule picks devices by a percentage (a stable hash of the device id, so the same devices
 * each run) and/or a list of device ids, and may apply to the first N commands a device receives only.
 */
export interface FaultRule {
  /** 0–100: this share of the devices, picked by a hash of their id */
  percent?: number;
  /** these device ids */
  devices?: string[];
  /** only the first N commands each chosen device receives (none: every one) */
  attempts?: number;
}
export interface Faults {
  fail?: FaultRule;
  timeout?: FaultRule;
  oldVersion?: FaultRule;
}
export type Fault = 'fail' | 'timeout';

/** FNV-1a of the id, in 0..9999. */
function bucket(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 10000;
}

export function chosen(rule: FaultRule | undefined, deviceId: string): boolean {
  if (!rule) return false;
  if (rule.devices?.includes(deviceId)) return true;
  return rule.percent !== undefined && bucket(deviceId) < rule.percent * 100;
}

export class FaultPlan {
  private readonly commands = new Map<string, number>();
  constructor(readonly faults: Faults = {}) {}

  /** The fault of this command to `deviceId` (counted: `attempts` limits a rule to the first ones). */
  next(deviceId: string): Fault | undefined {
    const n = (this.commands.get(deviceId) ?? 0) + 1;
    this.commands.set(deviceId, n);
    for (const f of ['fail', 'timeout'] as const) {
      const rule = this.faults[f];
      if (chosen(rule, deviceId) && (rule!.attempts === undefined || n <= rule!.attempts)) return f;
    }
    return undefined;
  }

  /** After an update, the device manages with its old version. */
  keepsOldVersion(deviceId: string): boolean {
    return chosen(this.faults.oldVersion, deviceId);
  }
}
