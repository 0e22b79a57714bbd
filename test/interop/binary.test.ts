/**
 * The single executable (npm run build:binary, Node's Single Executable
 * Applications): built here, copied alone into an empty temporary folder (no
 * node_modules, no dist/ beside it) and run from there: --version,
 * check-zone on a good and a broken zone, and `run` serving one DNS query,
 * then a clean SIGTERM.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { promises as dnsp } from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { VERSION } from '../../src/shared/version.js';
import { freePort } from '../support/ports.js';
import { DIST, eventually } from '../support/processes.js';
import { siteZoneText } from '../support/site-zone.js';

const run = promisify(execFile);
const ROOT = path.resolve(DIST, '..');

describe('interop: single executable (build:binary)', function () {
  this.timeout(120_000);
  let dir = '';
  let exe = '';
  let child: ReturnType<typeof spawn> | undefined;

  before(async () => {
    // dist/ is fresh: npm run test:interop compiled it just before.
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'scripts/build-binary.mjs')], { cwd: ROOT, timeout: 100_000 });
    expect(stdout).to.match(/^build-binary: dist\/bin\/srvproxy \(srvproxy /m);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-bin-'));
    exe = path.join(dir, 'srvproxy');
    fs.copyFileSync(path.join(ROOT, 'dist/bin/srvproxy'), exe);
    fs.chmodSync(exe, 0o755);
  });

  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs alone: the folder holds nothing else, and no node_modules above it', () => {
    expect(fs.readdirSync(dir)).to.deep.equal(['srvproxy']);
    for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) expect(fs.existsSync(path.join(d, 'node_modules')), d).to.equal(false);
  });

  it('srvproxy --version', async () => {
    const r = await run(exe, ['--version'], { cwd: dir, timeout: 20_000 });
    expect(r.stdout.trim()).to.equal(VERSION);
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

  it('srvproxy run serves DNS from the binary and stops with exit 0 on SIGTERM', async () => {
    const address = '127.0.0.81';
    const sipPort = await freePort(address);
    const dnsPort = await freePort(address);
    const httpPort = await freePort();
    const zones = path.join(dir, 'zones');
    fs.mkdirSync(zones);
    fs.writeFileSync(
      path.join(zones, 'example.com.zone'),
      siteZoneText({
        proxies: [{ name: 'proxy1', address, port: sipPort }],
        pairs: { tserver: [{ name: 'sips-a', address: '127.0.0.82', port: sipPort }, { name: 'sips-b', address: '127.0.0.83', port: sipPort }] },
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

    const resolver = new dnsp.Resolver({ timeout: 1000, tries: 2 });
    resolver.setServers([`${address}:${dnsPort}`]);
    const srv = await resolver.resolveSrv('_sip._udp.sipproxy.example.com');
    expect(srv).to.deep.equal([{ name: 'proxy1.example.com', port: sipPort, priority: 10, weight: 50 }]);

    child.kill('SIGTERM');
    expect(await exited, out).to.equal(0);
    expect(out).to.match(/"event":"SRV-10002"/); // STOPPED
    expect(out).to.not.match(/ExperimentalWarning|single-executable/);
  });
});
