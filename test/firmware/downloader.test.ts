import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { downloadFirmware, safeFileName, verifierAlgorithm } from '../../nodes/device/firmware-downloader';
import { freePort } from '../support/ports';

const IMAGE = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256));
const SHA256 = createHash('sha256').update(IMAGE).digest('hex');
const MD5 = createHash('md5').update(IMAGE).digest('hex');

describe('firmware/built-in downloader against a local http server', function () {
  this.timeout(10000);
  let server: http.Server;
  let base: string;
  let folder: string;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/fw/image.bin') {
        res.writeHead(200, { 'content-length': IMAGE.length });
        res.end(IMAGE);
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/fw/image.bin' });
        res.end();
      } else if (req.url === '/truncated') {
        // declares more than it sends, then drops the connection
        res.writeHead(200, { 'content-length': IMAGE.length });
        res.write(IMAGE.subarray(0, 1000), () => res.socket?.destroy());
      } else {
        res.writeHead(404);
        res.end('no such image');
      }
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-fw-'));
  });
  afterEach(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('downloads with a sha256 verifier into the folder', async () => {
    const r = await downloadFirmware({ uri: `${base}/fw/image.bin`, name: 'fw-2.0.bin', verifier: SHA256, folder });
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.file, path.join(folder, 'fw-2.0.bin'));
    assert.equal(r.algorithm, 'sha256');
    assert.deepEqual(fs.readFileSync(r.file), IMAGE);
    assert.deepEqual(fs.readdirSync(folder), ['fw-2.0.bin'], 'no partial file left');
  });

  it('downloads with an md5 verifier (upper-case hex accepted), following a redirect, named from the URI', async () => {
    const r = await downloadFirmware({ uri: `${base}/redirect`, verifier: MD5.toUpperCase(), folder, name: '' });
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.algorithm, 'md5');
    assert.equal(path.basename(r.file), 'redirect');
    assert.deepEqual(fs.readFileSync(r.file), IMAGE);
  });

  const FAILURES: { rule: string; uri: () => string; verifier?: string; maxBytes?: number; status: number; text: RegExp }[] = [
    {
      rule: 'digest mismatch → 4 verification failed',
      uri: () => `${base}/fw/image.bin`,
      verifier: SHA256.replace(/^./, (c) => (c === '0' ? '1' : '0')),
      status: 4,
      text: /verification failed/,
    },
    { rule: 'a verifier that is neither sha256 nor md5 → 4', uri: () => `${base}/fw/image.bin`, verifier: 'abc', status: 4, text: /neither/ },
    { rule: 'HTTP 404 → 6 invalid URI', uri: () => `${base}/missing.bin`, status: 6, text: /HTTP 404/ },
    { rule: 'refused connection → 3 connection lost', uri: () => `http://127.0.0.1:${refusedPort}/fw.bin`, status: 3, text: /ECONNREFUSED/ },
    { rule: 'body cut short → 3 connection lost', uri: () => `${base}/truncated`, status: 3, text: /connection lost/ },
    { rule: 'ftp scheme → 6 invalid URI', uri: () => 'ftp://127.0.0.1/fw.bin', status: 6, text: /only http and https/ },
    { rule: 'file scheme → 6 invalid URI', uri: () => 'file:///etc/passwd', status: 6, text: /only http and https/ },
    { rule: 'not a URL → 6 invalid URI', uri: () => 'not a url', status: 6, text: /not a URL/ },
    { rule: 'larger than the size cap → 2 out of space', uri: () => `${base}/fw/image.bin`, maxBytes: 1000, status: 2, text: /larger than the limit/ },
  ];
  let refusedPort = 0;
  before(async () => {
    // a port nobody listens on
    refusedPort = await freePort();
  });
  for (const f of FAILURES) {
    it(f.rule, async () => {
      const r = await downloadFirmware({ uri: f.uri(), verifier: f.verifier, folder, maxBytes: f.maxBytes, name: 'x.bin' });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.updateStatus, f.status);
      assert.match(r.message, f.text);
      assert.deepEqual(fs.readdirSync(folder), [], 'nothing left behind');
    });
  }

  it('out of space (ENOSPC) → 2, on a real 64 KiB tmpfs', async function () {
    // a real full disk: a small tmpfs (the test runs as root in CI; mount fails loudly otherwise)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-full-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount tmpfs failed: ${m.stderr}`);
    try {
      const r = await downloadFirmware({ uri: `${base}/fw/image.bin`, folder: dir, name: 'x.bin' });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.updateStatus, 2);
      assert.match(r.message, /out of space/);
      assert.deepEqual(fs.readdirSync(dir), [], 'the partial file is removed');
    } finally {
      spawnSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('neutralises path traversal in the name: the file stays in the folder', async () => {
    for (const name of ['../../etc/passwd', '..\\..\\win.ini', '/abs/evil.bin', '..', '.hidden', 'a b?c*.bin']) {
      const safe = safeFileName(name, `${base}/fw/image.bin`);
      assert.ok(!safe.includes('/') && !safe.includes('\\') && !safe.startsWith('.'), `${name} → ${safe}`);
    }
    assert.equal(safeFileName('../../etc/passwd', 'http://x/y'), 'passwd');
    assert.equal(safeFileName('..', 'http://x/'), 'firmware.bin');
    const r = await downloadFirmware({ uri: `${base}/fw/image.bin`, name: '../../../escape.bin', folder, verifier: SHA256 });
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(path.dirname(r.file), folder);
    assert.equal(path.basename(r.file), 'escape.bin');
    assert.equal(fs.existsSync(path.join(folder, '..', '..', '..', 'escape.bin')), false);
  });

  it('names the verifier algorithm by its length', () => {
    assert.equal(verifierAlgorithm(''), undefined);
    assert.equal(verifierAlgorithm(SHA256), 'sha256');
    assert.equal(verifierAlgorithm(MD5), 'md5');
    assert.equal(verifierAlgorithm('zz'), 'invalid');
  });

  it('a server that accepts then stalls → 3 after the idle timeout', async () => {
    const port = await freePort();
    const sockets: net.Socket[] = [];
    const stall = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => stall.listen(port, '127.0.0.1', () => r()));
    try {
      const r = await downloadFirmware({ uri: `http://127.0.0.1:${port}/x`, folder, idleTimeoutMs: 200 });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.updateStatus, 3);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => stall.close(() => r()));
    }
  });
});
