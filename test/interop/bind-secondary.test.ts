/**
 * A real BIND 9 secondary (Debian bind9's named) transferring the
 * health-filtered zone from a srvproxy instance: proxy1 (127.0.0.41) serves
 * example.com and allows transfers to named (listening on 127.0.0.1,
 * transferring from 127.0.0.43: named listens only on addresses configured on
 * an interface, but binds any loopback source), which it notifies
 * on every serial change; proxy2 (127.0.0.42) is its peer. proxy2 killed →
 * proxy1 withdraws it → NOTIFY → `dig @named` no longer lists it within a few
 * seconds; proxy2 back → so is its record. Transfers from an address not in
 * --allow-transfer (127.0.0.44) are refused. A second case does the same
 * over TSIG: named holds the key, dig without it is refused, with it served.
 */
import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/ports.js';
import { eventually, startSrvproxy, stopAll, type Proc } from '../support/processes.js';
import { writeSiteZone } from '../support/site-zone.js';

const run = promisify(execFile);
const P1 = '127.0.0.41';
const P2 = '127.0.0.42';
/** named transfers from here (transfer-source); it listens on 127.0.0.1, the only loopback address on an interface. */
const NAMED = '127.0.0.43';
const NAMED_LISTEN = '127.0.0.1';
const OUTSIDER = '127.0.0.44';
const SRV = '_sip._udp.sipproxy.example.com';
const NAMED_BIN = fs.existsSync('/usr/sbin/named') ? '/usr/sbin/named' : 'named';
const KEY_SECRET = 'sLcCy7iZH4GsmR4pP/+FulJv0Y+0MZFcA/fGt9b//xs=';
const KEY_FILE_TEXT = `key "xfr-key" {\n\talgorithm hmac-sha256;\n\tsecret "${KEY_SECRET}";\n};\n`;

/** named in the foreground (-g: logs to stderr, runs as the invoking user) with its own config in `dir`. */
class Named {
  child: ChildProcess | undefined;
  output = '';
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  start(primaryPort: number, key: boolean): void {
    const conf = [
      'options {',
      `  directory "${this.dir}";`,
      `  pid-file "${this.dir}/named.pid";`,
      `  session-keyfile "${this.dir}/session.key";`,
      `  managed-keys-directory "${this.dir}";`,
      `  listen-on port ${this.port} { ${NAMED_LISTEN}; };`,
      '  listen-on-v6 { none; };',
      `  transfer-source ${NAMED};`,
      `  notify-source ${NAMED};`,
      `  query-source address ${NAMED};`,
      '  recursion no;',
      '  notify no;',
      '  dnssec-validation no;',
      '  allow-query { any; };',
      '};',
      'controls { };',
      key ? KEY_FILE_TEXT : '',
      'zone "example.com" {',
      '  type secondary;',
      `  primaries port ${primaryPort} { ${P1}${key ? ' key "xfr-key"' : ''}; };`,
      '  file "example.com.db";',
      '};',
    ].join('\n');
    fs.writeFileSync(path.join(this.dir, 'named.conf'), conf);
    this.child = spawn(NAMED_BIN, ['-g', '-4', '-n', '1', '-c', path.join(this.dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }
}

async function dig(args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['+time=1', '+tries=1', ...args], { timeout: 8000 });
  return stdout;
}

/** SRV targets the secondary answers for the pool (sorted). */
async function secondaryTargets(named: Named): Promise<string[]> {
  const out = await dig([`@${NAMED_LISTEN}`, '-p', String(named.port), '+short', '+norecurse', SRV, 'SRV']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').at(-1)!)
    .sort();
}

async function serialAt(server: string, port: number): Promise<number> {
  const out = await dig([`@${server}`, '-p', String(port), '+short', '+norecurse', 'example.com', 'SOA']);
  return Number(out.trim().split(' ')[2]);
}

interface Site {
  zoneDir: string;
  dnsPort: number;
  sip: [number, number];
  http: [number, number];
}

async function makeSite(): Promise<Site> {
  const dnsPort = await freePort(P1);
  const sip: [number, number] = [await freePort(P1), await freePort(P2)];
  const zoneDir = writeSiteZone({
    proxies: [
      { name: 'proxy1', address: P1, port: sip[0] },
      { name: 'proxy2', address: P2, port: sip[1] },
    ],
    pairs: { tserver: [{ name: 'sips-a', address: '127.0.0.47', port: 5060 }, { name: 'sips-b', address: '127.0.0.48', port: 5060 }] },
  });
  return { zoneDir, dnsPort, sip, http: [await freePort(), await freePort()] };
}

function instanceArgs(site: Site, i: 0 | 1, extra: string[] = []): string[] {
  return [
    '--self', `proxy${i + 1}.example.com`,
    '--pair', 'tserver.example.com',
    '--zones', site.zoneDir,
    '--dns-port', String(site.dnsPort),
    '--peer-interval', '0.2',
    '--peer-down-after', '2',
    '--peer-up-after', '2',
    ...extra,
  ];
}

describe('interop: a BIND 9 secondary transfers the health-filtered zone', function () {
  this.timeout(90_000);
  const tmp: string[] = [];
  const nameds: Named[] = [];

  async function startNamed(primaryPort: number, key: boolean): Promise<Named> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-named-'));
    tmp.push(dir);
    const named = new Named(dir, await freePort(NAMED_LISTEN));
    nameds.push(named);
    named.start(primaryPort, key);
    return named;
  }

  after(async () => {
    await Promise.all(nameds.map((n) => n.stop()));
    await stopAll();
    for (const d of tmp) fs.rmSync(d, { recursive: true, force: true });
  });

  it('follows a withdrawal and a return by NOTIFY within seconds; refuses an address not allowed', async () => {
    const site = await makeSite();
    tmp.push(site.zoneDir);
    const named = await startNamed(site.dnsPort, false);
    const xfr = ['--allow-transfer', `${NAMED}/32`, '--notify', `${NAMED_LISTEN}:${named.port}`];
    const p1 = await startSrvproxy(instanceArgs(site, 0, xfr), site.http[0], 'proxy1');
    let p2: Proc = await startSrvproxy(instanceArgs(site, 1), site.http[1], 'proxy2');

    const both = ['proxy1.example.com.', 'proxy2.example.com.'];
    await eventually(async () => JSON.stringify(await secondaryTargets(named)) === JSON.stringify(both), 20_000, `named serves both proxies\n${named.output.slice(-3000)}`, 100);
    const serial0 = await serialAt(NAMED_LISTEN, named.port);
    expect(serial0).to.equal(await serialAt(P1, site.dnsPort));

    // proxy2 dies: proxy1 withdraws it, notifies, named transfers.
    const killedAt = Date.now();
    await p2.kill();
    const ms = await eventually(async () => JSON.stringify(await secondaryTargets(named)) === '["proxy1.example.com."]', 10_000, `named drops proxy2\n${named.output.slice(-3000)}\n${p1.output.slice(-3000)}`, 50);
    const withdrawn = (Date.now() - killedAt) / 1000;
    console.log(`      kill → withdrawal visible on the BIND secondary: ${withdrawn.toFixed(2)} s (peer-interval 0.2 s, down-after 2)`);
    expect(ms).to.be.below(5000);
    const serial1 = await serialAt(NAMED_LISTEN, named.port);
    expect(serial1).to.be.greaterThan(serial0);
    expect(named.output).to.match(/notify from 127\.0\.0\.41#\d+: serial \d+/);

    // proxy2 back: restored by proxy1 after up-after probes, and on the secondary.
    const backAt = Date.now();
    p2 = await startSrvproxy(instanceArgs(site, 1), site.http[1], 'proxy2');
    await eventually(async () => JSON.stringify(await secondaryTargets(named)) === JSON.stringify(both), 10_000, `named lists proxy2 again\n${named.output.slice(-3000)}`, 50);
    console.log(`      restart → record back on the BIND secondary: ${((Date.now() - backAt) / 1000).toFixed(2)} s`);
    expect(await serialAt(NAMED_LISTEN, named.port)).to.be.greaterThan(serial1);

    // Another address, not in --allow-transfer: refused.
    const refused = await dig(['-b', OUTSIDER, `@${P1}`, '-p', String(site.dnsPort), 'example.com', 'AXFR']);
    expect(refused).to.include('Transfer failed');
    expect(refused).not.to.match(/IN\s+SOA/);
    expect(p1.output).to.include('SRV-20021');
    // named's own address: allowed.
    const allowed = await dig(['-b', NAMED, `@${P1}`, '-p', String(site.dnsPort), 'example.com', 'AXFR']);
    expect(allowed.match(/IN\s+SOA/g)).to.have.length(2);
    // The transfers and NOTIFYs are counted in /metrics.
    const metrics = await (await fetch(`http://127.0.0.1:${site.http[0]}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    expect(value(/^srvproxy_dns_transfers_total\{outcome="full"\} (\d+)$/m), metrics).to.be.greaterThan(1);
    expect(value(/^srvproxy_dns_transfers_total\{outcome="refused"\} (\d+)$/m)).to.be.greaterThan(0);
    expect(value(/^srvproxy_dns_notify_total\{outcome="answered"\} (\d+)$/m)).to.be.greaterThan(1);
    await p1.kill();
    await p2.kill();
    await named.stop();
  });

  it('with --tsig-key: named transfers with the key; dig without it is refused, with it served and verified', async () => {
    const site = await makeSite();
    tmp.push(site.zoneDir);
    const keyFile = path.join(site.zoneDir, 'xfr.key');
    fs.writeFileSync(keyFile, KEY_FILE_TEXT);
    // The key file sits in the zones folder: srvproxy loads *.zone files only.
    const named = await startNamed(site.dnsPort, true);
    const xfr = ['--allow-transfer', '127.0.0.0/8', '--notify', `${NAMED_LISTEN}:${named.port}`, '--tsig-key', keyFile];
    const p1 = await startSrvproxy(instanceArgs(site, 0, xfr), site.http[0], 'proxy1');
    const p2 = await startSrvproxy(instanceArgs(site, 1), site.http[1], 'proxy2');
    const both = ['proxy1.example.com.', 'proxy2.example.com.'];
    await eventually(async () => JSON.stringify(await secondaryTargets(named)) === JSON.stringify(both), 20_000, `named serves both proxies over TSIG\n${named.output.slice(-3000)}`, 100);

    const unsigned = await dig(['-b', OUTSIDER, `@${P1}`, '-p', String(site.dnsPort), 'example.com', 'AXFR']);
    expect(unsigned).to.include('Transfer failed');
    const signed = await dig(['-b', OUTSIDER, '-k', keyFile, `@${P1}`, '-p', String(site.dnsPort), 'example.com', 'AXFR']);
    expect(signed.match(/IN\s+SOA/g)).to.have.length(2);
    expect(signed).not.to.match(/verify|failure|Transfer failed/i);
    const wrongKey = path.join(site.zoneDir, 'wrong.key');
    fs.writeFileSync(wrongKey, KEY_FILE_TEXT.replace(KEY_SECRET, Buffer.alloc(32, 7).toString('base64')));
    const bad = await dig(['-b', OUTSIDER, '-k', wrongKey, `@${P1}`, '-p', String(site.dnsPort), 'example.com', 'AXFR']);
    expect(bad).to.include('BADSIG');
    expect(bad).to.include('Transfer failed');
    // A signed SOA query (what named's refresh sends) gets a signed answer that dig verifies.
    const soa = await dig(['-k', keyFile, '+norecurse', `@${P1}`, '-p', String(site.dnsPort), 'example.com', 'SOA']);
    expect(soa).to.include('TSIG PSEUDOSECTION');
    expect(soa).not.to.match(/verify|WARNING/i);

    // A withdrawal reaches named over the signed path too.
    await p2.kill();
    await eventually(async () => JSON.stringify(await secondaryTargets(named)) === '["proxy1.example.com."]', 10_000, `named drops proxy2 (TSIG)\n${named.output.slice(-3000)}`, 50);
    // named answers the signed NOTIFYs signed: every reply verifies (RFC 8945 §5.4), none is taken unverified.
    const metrics = await (await fetch(`http://127.0.0.1:${site.http[0]}/metrics`)).text();
    const notify = (outcome: string) => Number(new RegExp(`^srvproxy_dns_notify_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    expect(notify('answered'), metrics).to.be.greaterThan(0);
    expect(notify('unverified'), metrics).to.equal(0);
    await p1.kill();
    await named.stop();
  });
});
