/**
 * test/support/tls-certs: throw-away certificate authorities and leaf
 * certificates for TLS tests, made at test time with the openssl CLI (Node's
 * crypto cannot sign X.509 certificates). `makeCerts()` returns undefined
 * when openssl is not installed, and the test skips.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCerts {
  dir: string;
  /** The CA the site trusts, and a second CA nobody trusts. */
  ca: Pem;
  otherCa: Pem;
  /** Leaf certificates: `name` -> signed by ca (or otherCa when asked). */
  leaf(name: string, ip: string, signer?: 'ca' | 'otherCa'): Pem;
  remove(): void;
}

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function makeCerts(): TestCerts | undefined {
  if (!haveOpenssl()) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-tls-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const pem = (base: string): Pem => ({
    cert: fs.readFileSync(path.join(dir, base + '.pem'), 'utf8'),
    key: fs.readFileSync(path.join(dir, base + '.key'), 'utf8'),
    certFile: path.join(dir, base + '.pem'),
    keyFile: path.join(dir, base + '.key'),
  });
  const makeCa = (base: string, cn: string): Pem => {
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', base + '.key', '-out', base + '.pem',
      '-days', '2', '-subj', '/CN=' + cn, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return pem(base);
  };
  const ca = makeCa('ca', 'srvproxy test CA');
  const otherCa = makeCa('other-ca', 'some other CA');
  return {
    dir,
    ca,
    otherCa,
    leaf(name, ip, signer = 'ca') {
      const base = `${name}-${signer}`;
      run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', base + '.key', '-out', base + '.csr',
        '-subj', '/CN=' + name, '-addext', `subjectAltName=DNS:${name},IP:${ip}`]);
      run(['x509', '-req', '-in', base + '.csr', '-CA', signer === 'ca' ? 'ca.pem' : 'other-ca.pem', '-CAkey', signer === 'ca' ? 'ca.key' : 'other-ca.key',
        '-CAcreateserial', '-days', '2', '-copy_extensions', 'copy', '-out', base + '.pem']);
      return pem(base);
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
