/**
 * `npm run chaos -- [--json out.json] [--devices 500] [--registry-devices 5000]`: the chaos scenarios
 * of issue 11 (scenarios.ts), one row each, as a table on stdout and, with --json, as a JSON array
 * of {scenario, devices, success, failure, timedOut, cancelled, stuck, countedTwice,
 * lostAfterRestart, wallMs}. The details (reasons, bounds) go to stdout.
 */
import fs from 'node:fs';
import { brokerKill, nodeRedKillRegistry, nodeRedKillRequest, type ChaosRow } from './scenarios';

const KEYS = ['scenario', 'devices', 'success', 'failure', 'timedOut', 'cancelled', 'stuck', 'countedTwice', 'lostAfterRestart', 'wallMs'] as const;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
function count(name: string, dflt: number): number {
  const v = option(name);
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error(`--${name} must be an integer 1..5000`);
  return n;
}

async function main(): Promise<void> {
  const devices = count('devices', 500);
  const registryDevices = count('registry-devices', 5000);
  const json = option('json');
  const rows: ChaosRow[] = [];
  const steps: [string, () => Promise<ChaosRow[]>][] = [
    ['broker-kill/device/reboot', () => brokerKill('device/reboot', devices)],
    ['broker-kill/firmware/download', () => brokerKill('firmware/download', devices)],
    ['node-red-kill/device/reboot', async () => [await nodeRedKillRequest(devices)]],
    ['node-red-kill/registry', async () => [await nodeRedKillRegistry(registryDevices)]],
  ];
  for (const [name, run] of steps) {
    process.stdout.write(`${name} ...\n`);
    for (const row of await run()) {
      rows.push(row);
      process.stdout.write(`  ${row.scenario}: ${JSON.stringify(row.detail ?? {})}\n`);
    }
  }
  const widths = KEYS.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  process.stdout.write(`\n${line([...KEYS])}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(KEYS.map((k) => String(r[k])))}\n`);
  if (json)
    fs.writeFileSync(
      json,
      JSON.stringify(
        rows.map((r) => Object.fromEntries(KEYS.map((k) => [k, r[k]]))),
        null,
        2,
      ) + '\n',
    );
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`chaos: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
