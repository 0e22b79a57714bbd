/**
 * test/support/tls-certs: the certificate authorities and leaf certificates of
 * the TLS tests, committed under test/fixtures/tls/ (valid until 2126), so that
 * `npm test` needs nothing but Node (Node's crypto cannot sign X.509
 * certificates). Test-only keys: they protect nothing.
 *
 * Made with openssl, per CA:  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
 *   -nodes -keyout ca.key -out ca.pem -days 36500 -subj "/CN=srvproxy test CA"
 *   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
 * and per leaf NAME at IP signed by SIGNER (ca or other-ca): a CSR with
 *   -addext "subjectAltName=DNS:NAME,IP:IP", then openssl x509 -req -CA SIGNER.pem
 *   -CAkey SIGNER.key -days 36500 -copy_extensions copy -out NAME-SIGNER.pem.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/support -> test/fixtures/tls in the source tree
const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/tls');

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
  /** The leaf certificate of `name` (SAN DNS:name, IP:ip) signed by `signer`. */
  leaf(name: string, ip: string, signer?: 'ca' | 'otherCa'): Pem;
}

function pem(base: string): Pem {
  const certFile = path.join(DIR, base + '.pem');
  const keyFile = path.join(DIR, base + '.key');
  if (!fs.existsSync(certFile)) throw new Error(`no test certificate ${certFile}: make it as the header of test/support/tls-certs.ts says`);
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

export function testCerts(): TestCerts {
  return {
    dir: DIR,
    ca: pem('ca'),
    otherCa: pem('other-ca'),
    leaf(name, ip, signer = 'ca') {
      const p = pem(`${name}-${signer === 'ca' ? 'ca' : 'other-ca'}`);
      const san = new crypto.X509Certificate(p.cert).subjectAltName ?? '';
      if (!san.split(', ').includes(`IP Address:${ip}`)) throw new Error(`test certificate ${name} is not for ${ip} (${san})`);
      return p;
    },
  };
}
