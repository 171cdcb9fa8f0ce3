/**
 * Debian's mosquitto, started for a test run. Found at /usr/sbin/mosquitto; when it is missing and we
 * are root it is installed with apt-get; otherwise the run fails with a clear error (never skips).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort } from './ports';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'];

export function findMosquitto(): string {
  let found = CANDIDATES.find((p) => fs.existsSync(p));
  if (found) return found;
  if (process.getuid?.() === 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    const r = spawnSync('apt-get', ['install', '-y', 'mosquitto'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    found = CANDIDATES.find((p) => fs.existsSync(p));
    if (found) return found;
    throw new Error(`mosquitto is not installed and apt-get install failed (exit ${r.status})`);
  }
  throw new Error("mosquitto is not installed: run `apt-get install -y mosquitto` (the tests need Debian's mosquitto)");
}

export interface RunningMosquitto {
  url: string;
  port: number;
  /** where mosquitto saves its sessions when the caller asked for persistence */
  persistenceFile: string;
  /** the mosquitto process id (the one this helper started) */
  pid(): number | undefined;
  /** SIGKILL the broker (a crash: nothing is flushed) and wait until it is gone */
  kill(): Promise<void>;
  /** start it again on the same port with the same configuration (and persistence file, if any) */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`mosquitto did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Start mosquitto on a free loopback port. Its queue limits are raised (the default
 * max_queued_messages of 1000 silently drops QoS 1 messages at 5,000 devices, docs/protocol.md §10)
 * and TCP_NODELAY is set.
 */
export async function startMosquitto(extraConfig = ''): Promise<RunningMosquitto> {
  const bin = findMosquitto();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  // started as root, mosquitto runs as the user `mosquitto`, which must be able to save its sessions here
  if (/persistence true/.test(extraConfig)) fs.chmodSync(dir, 0o777);
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      // a caller that asks for persistence gets its database in this run's own directory
      /persistence true/.test(extraConfig) ? `persistence_location ${dir}/` : 'persistence false',
      'max_queued_messages 100000',
      'max_inflight_messages 0',
      'set_tcp_nodelay true',
      'log_dest none',
      extraConfig,
    ].join('\n') + '\n',
  );
  let child: ChildProcess;
  let exited: Promise<void>;
  const launch = async () => {
    child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const c = child;
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    try {
      await Promise.race([
        waitForPort(port, 10000),
        exited.then(() => {
          throw new Error(`mosquitto exited: ${stderr}`);
        }),
      ]);
    } catch (err) {
      c.kill('SIGKILL');
      throw err;
    }
  };
  await launch();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    persistenceFile: path.join(dir, 'mosquitto.db'),
    pid: () => child.pid,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    restart: launch,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
