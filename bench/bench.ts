/**
 * `npm run bench`: the platform's management requests against the raw exchange of the same
 * messages, through Debian's mosquitto and through the embedded broker, measured in one run.
 *
 *   npm run bench -- [--devices 5000] [--runs 5] [--json FILE] [--sim-clients 10]
 *                    [--scenarios device/reboot,firmware/download,...] [--brokers mosquitto,embedded]
 *                    [--window N] [--faults JSON] [--profile DIR] [--layers]
 *
 * `--scenarios rollout --devices 50000`: the same reboots through a rollout in waves of 5,000 (up to
 * 100,000 devices), against the raw exchange of the same messages for every device.
 *
 * For each broker: the broker starts, the device simulator is forked (sim-handle.ts) and connects;
 * for each scenario a warm-up round, then `runs` rounds of [floor with the platform's window,
 * floor unbounded, ours]; the figures are medians. The floor is the faster of its two modes.
 */
import fs from 'node:fs';
import { Platform } from '../nodes/platform/platform';
import { BROKER_NAMES, startBroker, type BrokerName } from './brokers';
import { runFloor } from './floor';
import { median, ProcessMonitor, type RunFigures } from './measure';
import { runOurs, type OursResult } from './ours';
import { ACTION_SCENARIOS, BENCH_TYPE, fleet, SCENARIO_NAMES, SCENARIOS, type Scenario, type ScenarioName } from './scenarios';
import type { Faults } from './faults';
import { Simulator } from './sim-handle';
import { benchManageStorm } from './manage-storm';
import { RunProfiler } from './profile';

interface Args {
  devices: number;
  runs: number;
  json?: string;
  simClients: number;
  scenarios: ScenarioName[];
  /** the manage-storm scenario (issue 11) */
  storm: boolean;
  brokers: BrokerName[];
  window: number;
  /** simulated device faults (bench/faults.ts), for the rollout scenario */
  faults?: Faults;
  /** a CPU profile of each timed platform run goes to this folder (bench/profile.ts) */
  profile?: string;
  /** each round also runs the floor's exchange over our Connection with the platform's window (floor.ts `via`) */
  layers: boolean;
}

/** The platform's own default window (RequestManagerOptions.maxInFlight), so the bench runs what users run. */
function platformDefaultWindow(): number {
  const p = new Platform(() => Promise.resolve());
  const w = p.requests.options.maxInFlight;
  p.close();
  return w;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    devices: 5000,
    runs: 5,
    simClients: 10,
    scenarios: [...ACTION_SCENARIOS],
    storm: true,
    brokers: [...BROKER_NAMES],
    window: platformDefaultWindow(),
    layers: false,
  };
  const int = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} wants an integer in ${min}..${max}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    switch (flag) {
      case '--devices':
        a.devices = int(flag, v, 1, 100_000);
        i++;
        break;
      case '--runs':
        a.runs = int(flag, v, 1, 50);
        i++;
        break;
      case '--sim-clients':
        a.simClients = int(flag, v, 1, 5000);
        i++;
        break;
      case '--window':
        a.window = int(flag, v, 1, 100000);
        i++;
        break;
      case '--json':
        if (!v) throw new Error('--json wants a file name');
        a.json = v;
        i++;
        break;
      case '--scenarios':
        a.storm = (v ?? '').split(',').includes(STORM);
        a.scenarios = (v ?? '')
          .split(',')
          .filter((s) => s !== STORM)
          .map((s) => {
            if (!(SCENARIO_NAMES as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s} (${[...SCENARIO_NAMES, STORM].join(', ')})`);
            return s as ScenarioName;
          });
        i++;
        break;
      case '--profile':
        if (!v) throw new Error('--profile wants a folder');
        a.profile = v;
        i++;
        break;
      case '--layers':
        a.layers = true;
        break;
      case '--brokers':
        a.brokers = (v ?? '').split(',').map((s) => {
          if (!(BROKER_NAMES as readonly string[]).includes(s)) throw new Error(`unknown broker ${s} (${BROKER_NAMES.join(', ')})`);
          return s as BrokerName;
        });
        i++;
        break;
      case '--faults':
        try {
          a.faults = JSON.parse(v ?? '') as Faults;
        } catch {
          throw new Error('--faults wants JSON, e.g. {"fail":{"percent":1},"timeout":{"devices":["d00007"]}}');
        }
        i++;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  // one management request carries at most 5,000 devices; more is a rollout's job
  const single = a.scenarios.filter((s) => !SCENARIOS[s].rollout);
  if (a.devices > 5000 && single.length) throw new Error(`--devices over 5000 needs --scenarios rollout (${single.join(', ')} send one request)`);
  if (a.faults && single.length) throw new Error('--faults applies to the rollout scenario only');
  return a;
}

/** One line of the JSON output (issue 2 / 6). */
interface Figure {
  scenario: ScenarioName | typeof STORM;
  broker: BrokerName;
  devices: number;
  wallMs: number;
  floorMs: number;
  ratio: number;
  eventLoopP99Ms: number;
  peakRssMb: number;
}

interface Row extends Figure {
  floorMode: string;
  floorBoundedMs: number;
  floorUnboundedMs: number;
  oursRunsMs: number[];
  eventLoopMaxMs: number;
  targetRatio: number;
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const STORM = 'manage-storm';
/** what a run's log line says of its CPU, event loop and collector */
const figures = (f: RunFigures) => `cpu ${round(f.cpuMs)}, elu ${round(f.elu, 2)}, gc ${round(f.gcMinorMs)} + ${round(f.gcMajorMs)}`;
const RUN_TIMEOUT_MS = 120_000;

async function benchBroker(args: Args, broker: BrokerName, log: (s: string) => void): Promise<Row[]> {
  const devices = fleet(args.devices);
  const b = await startBroker(broker);
  const rows: Row[] = [];
  let sim: Simulator | undefined;
  try {
    sim = await Simulator.start(b.url, args.devices, args.simClients, BENCH_TYPE, args.faults);
    log(`${broker}: ${b.url}, simulator pid ${sim.pid}: ${sim.clients} gateway-style mqtt.js clients for ${args.devices} devices`);
    const profiler = args.profile ? new RunProfiler(args.profile) : undefined;
    const monitor = new ProcessMonitor(profiler);
    // with --profile, the unbounded floor's run is profiled too (what the platform adds is the difference)
    const floorUnbounded = async (s: Scenario, label: string) => {
      profiler?.start();
      return runFloor(b.url, devices, s, Infinity, RUN_TIMEOUT_MS, profiler && (() => profiler.stop(`floor-${label}`)));
    };
    const options = { maxInFlight: args.window };
    for (const name of args.scenarios) {
      const s = SCENARIOS[name];
      const bounded: number[] = [];
      const unbounded: number[] = [];
      const ours: OursResult[] = [];
      for (let r = 0; r <= args.runs; r++) {
        const fb = await runFloor(b.url, devices, s, args.window, RUN_TIMEOUT_MS);
        monitor.label = `${name}-${broker}-${r === 0 ? 'warm-up' : `run${r}`}`;
        const fu = await floorUnbounded(s, monitor.label);
        const fc = args.layers ? await runFloor(b.url, devices, s, args.window, RUN_TIMEOUT_MS, undefined, 'connection') : undefined;
        const o = await runOurs(b, devices, s, sim, monitor, options, RUN_TIMEOUT_MS, !!args.faults);
        await monitor.profileWritten;
        const stats = await sim.request({ type: 'stats' }, 'stats', 10_000);
        if (stats.errors) throw new Error(`simulator reported ${stats.errors} error(s)`);
        log(
          `  ${name} ${r === 0 ? 'warm-up' : `run ${r}`}: floor ${round(fb.ms)} ms (window ${args.window}, ${figures(fb)}) / ${round(fu.ms)} ms (unbounded, ${figures(fu)}), ` +
            (fc ? `over our Connection ${round(fc.ms)} ms (window ${args.window}, ${figures(fc)}), ` : '') +
            `ours ${round(o.ms)} ms (${figures(o)}), event loop p99 ${round(o.eventLoopP99Ms, 1)} ms, rss ${round(o.peakRssMb)} MB; simulator received ${stats.received}, sent ${stats.sent}`,
        );
        if (r === 0) continue;
        bounded.push(fb.ms);
        unbounded.push(fu.ms);
        ours.push(o);
      }
      const fbm = median(bounded);
      const fum = median(unbounded);
      const floorMs = Math.min(fbm, fum);
      const wallMs = median(ours.map((o) => o.ms));
      rows.push({
        scenario: name,
        broker,
        devices: args.devices,
        wallMs: round(wallMs),
        floorMs: round(floorMs),
        ratio: round(wallMs / floorMs, 2),
        eventLoopP99Ms: round(median(ours.map((o) => o.eventLoopP99Ms)), 1),
        peakRssMb: round(Math.max(...ours.map((o) => o.peakRssMb))),
        floorMode: fbm <= fum ? `window ${args.window}` : 'unbounded',
        floorBoundedMs: round(fbm),
        floorUnboundedMs: round(fum),
        oursRunsMs: ours.map((o) => round(o.ms)),
        eventLoopMaxMs: round(Math.max(...ours.map((o) => o.eventLoopMaxMs)), 1),
        targetRatio: s.targetRatio,
      });
    }
    if (args.storm && broker === 'mosquitto') {
      // last: it restarts the broker (SIGKILL and start again; the embedded broker dies with Node-RED)
      const st = await benchManageStorm(b, sim, monitor, args.runs, log);
      log(
        `  manage-storm: durable-write cost ${round(st.wallMs - st.noPersistMs)} ms for ${args.devices} devices ` +
          `(${round(((st.wallMs - st.noPersistMs) * 1000) / args.devices, 1)} µs a device; ours ${round(st.wallMs)} ms with the journal, ` +
          `${round(st.noPersistMs)} ms without; ${st.batches} journal batches of ${round(st.batchWriteMs, 1)} ms write + fdatasync, ${round(st.journalBytes / 1e6, 1)} MB)`,
      );
      rows.push({
        scenario: STORM,
        broker,
        devices: args.devices,
        wallMs: round(st.wallMs),
        floorMs: round(st.floorMs),
        ratio: round(st.wallMs / st.floorMs, 2),
        eventLoopP99Ms: round(st.eventLoopP99Ms, 1),
        peakRssMb: round(st.peakRssMb),
        floorMode: 'echo',
        floorBoundedMs: round(st.floorMs),
        floorUnboundedMs: round(st.floorMs),
        oursRunsMs: st.runsMs,
        eventLoopMaxMs: round(st.eventLoopMaxMs, 1),
        targetRatio: 1.5,
      });
    }
  } finally {
    await sim?.stop();
    await b.stop();
  }
  return rows;
}

function table(rows: Row[]): string {
  const head = [
    'scenario',
    'broker',
    'devices',
    'ours ms',
    'floor ms',
    'floor mode',
    'ratio',
    'target',
    'EL p99 ms',
    'EL max ms',
    'peak RSS MB',
    'ours runs ms',
    'ok',
  ];
  const lines = rows.map((r) => [
    r.scenario,
    r.broker,
    String(r.devices),
    String(r.wallMs),
    String(r.floorMs),
    r.floorMode,
    r.ratio.toFixed(2),
    `≤ ${r.targetRatio.toFixed(1)}`,
    r.eventLoopP99Ms.toFixed(1),
    r.eventLoopMaxMs.toFixed(1),
    String(r.peakRssMb),
    r.oursRunsMs.join(' '),
    r.ratio <= r.targetRatio && r.eventLoopP99Ms <= 50 ? 'yes' : 'MISS',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) =>
    l
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stdout.write(`${s}\n`);
  log(
    `iotdm bench: ${args.devices} devices, ${args.runs} timed runs + 1 warm-up per scenario, medians; ` +
      `platform window (maxInFlight) ${args.window}; device simulator in a child process`,
  );
  const started = Date.now();
  const rows: Row[] = [];
  for (const broker of args.brokers) rows.push(...(await benchBroker(args, broker, log)));
  log('');
  log(table(rows));
  log('');
  log(
    'ours: Connection + Platform, initiate() → requestComplete, event loop and RSS of the platform process' +
      (args.brokers.includes('embedded') ? ' (with the embedded broker, aedes runs in that process too, as in Node-RED)' : '') +
      '; floor: plain mqtt.js, same messages, no protocol logic, the faster of window / unbounded.',
  );
  log(`targets: ratio ≤ 1.5 (device actions), ≤ 2.0 (firmware); event-loop p99 ≤ 50 ms. Took ${round((Date.now() - started) / 1000)} s.`);
  if (args.json) {
    const figures: Figure[] = rows.map(({ scenario, broker, devices, wallMs, floorMs, ratio, eventLoopP99Ms, peakRssMb }) => ({
      scenario,
      broker,
      devices,
      wallMs,
      floorMs,
      ratio,
      eventLoopP99Ms,
      peakRssMb,
    }));
    fs.writeFileSync(args.json, JSON.stringify(figures, null, 2) + '\n');
    log(`figures written to ${args.json}`);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
