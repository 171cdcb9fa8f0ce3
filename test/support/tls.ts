/**
 * A self-signed certificate for 127.0.0.1 / localhost, made at test time with Debian's `openssl`
 * CLI. When openssl is missing the test fails with a clear message (it never skips).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SelfSigned {
  cert: string;
  key: string;
}

export function makeSelfSignedCert(commonName = 'localhost'): SelfSigned {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotdm-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '2',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { encoding: 'utf8' },
    );
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('openssl is not installed: run `apt-get install -y openssl` (the TLS tests make their certificate with it)');
    }
    if (r.status !== 0) throw new Error(`openssl failed (exit ${r.status}): ${r.stderr}`);
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
