/**
 * A real Node-RED process (4.1, or the one test/support/red.ts chooses) for tests that need the whole runtime (restarts, HTTP, the editor):
 * a temporary user directory with this package installed as a module (symlink), a flow, settings,
 * and a free port. stop() ends it with SIGINT, so context stores flush as on a real shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { RED_JS } from './red';

const ROOT = path.join(__dirname, '..', '..', '..');
const PACKAGE_NAME: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).name;

export interface NodeRedProcess {
  url: string;
  port: number;
  userDir: string;
  /** true once the process ended (a crash, or stop()) */
  exited(): boolean;
  output(): string;
  /** the Node-RED process id (the process this helper started) */
  pid: number | undefined;
  /** SIGKILL (a crash: nothing is flushed or closed) and wait until it is gone */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface NodeRedOptions {
  flows: unknown[];
  credentials?: Record<string, Record<string, string>>;
  /** extra settings, as JavaScript source of object properties */
  settings?: string;
  /** reuse a user directory (a restart) */
  userDir?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export async function startNodeRed(opts: NodeRedOptions): Promise<NodeRedProcess> {
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-nr-'));
  // installed under its own (scoped) name, as npm would
  const link = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  if (!fs.existsSync(link)) fs.symlinkSync(ROOT, link, 'dir');
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(opts.flows));
  if (opts.credentials) fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(opts.credentials));
  const port = await freePort();
  fs.writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = {
  uiPort: ${port}, uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: false,
  telemetry: { enabled: false },
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: 'info' } },
  ${opts.settings ?? ''}
};`,
  );
  const child: ChildProcess = spawn(process.execPath, [RED_JS, '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + (opts.timeoutMs ?? 20000);
  while (!/Started flows/.test(out)) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Node-RED did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    userDir,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    output: () => out,
    pid: child.pid,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}
