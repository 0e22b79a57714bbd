import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../support/processes.js';
import { VERSION } from '../../../src/shared/version.js';

const repoZones = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../zones');

describe('cli: srvproxy', function () {
  this.timeout(30_000);

  it('--version prints the package version and the runtime', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(repoZones, '../package.json'), 'utf8')) as { version: string };
    expect(VERSION).to.equal(pkg.version);
    const r = await runCli(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal(`srvproxy ${VERSION} (node ${process.version})\n`);
  });

  const bad: [string[], RegExp][] = [
    [['run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--oos-check', 'soon'], /^srvproxy: --oos-check: 'soon' is not a number$/],
    [['run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--no-such-flag', 'x'], /no-such-flag/],
    [['run', '--pair', 'tserver.example.com'], /^srvproxy: --self: is required$/],
    [['run', '--self', 'proxy1.example.com', '--pair', 't.example.com', '--dns-port', '1', '--dns-port', '2'], /^srvproxy: --dns-port: given more than once$/],
    [['run', '--config', '/nonexistent/srvproxy.json'], /^srvproxy: --config: cannot read \/nonexistent\/srvproxy.json: ENOENT$/],
    [['frobnicate'], /frobnicate/],
  ];
  for (const [args, re] of bad) {
    it(`exits 2 with one line for: ${args.join(' ')}`, async () => {
      const r = await runCli(args);
      expect(r.code).to.equal(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0]).to.match(re);
    });
  }

  it('exits 2 naming an unknown key of --config', async () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-cfg-')), 'c.json');
    fs.writeFileSync(f, JSON.stringify({ self: 'proxy1.example.com', pair: ['tserver.example.com'], 'oos-chek': 3 }));
    const r = await runCli(['run', '--config', f]);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal(`srvproxy: --config: ${f}: unknown key 'oos-chek'`);
  });

  it('refuses to start when --self is not a pool target (exit 2, nothing started)', async () => {
    const r = await runCli(['run', '--zones', repoZones, '--self', 'proxy9.example.com', '--pair', 'tserver.example.com', '--dns-port', '1053', '--http', '127.0.0.1:0']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/proxy9\.example\.com/);
    expect(r.stderr).to.match(/own proxy address not found/);
  });

  it('check-zone: 0 for the shipped zones, 1 with FILE:LINE for a broken one', async () => {
    const good = await runCli(['check-zone', path.join(repoZones, 'example.com.zone')]);
    expect(good.code, good.stdout + good.stderr).to.equal(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-cz-'));
    const f = path.join(dir, 'broken.example.zone');
    fs.writeFileSync(f, '$TTL 30\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nns1 A 127.0.0.1\nbad A 300.1.2.3\n');
    const r = await runCli(['check-zone', f]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(new RegExp(`^${f.replace(/[.]/g, '\\.')}:5: `, 'm'));
  });

  it('check-zone: warnings as FILE:LINE: warning: lines, exit status 0', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-cz-'));
    const f = path.join(dir, 'example.com.zone');
    fs.writeFileSync(f, '@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nns1 A 127.0.0.1\nns1 10 A 127.0.0.2\n');
    const r = await runCli(['check-zone', f]);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout.split('\n')).to.deep.equal([
      `${f}:1: warning: no TTL specified; using SOA MINIMUM instead`,
      `${f}:4: warning: TTL set to prior TTL (5)`,
      `${f}: OK`,
      '',
    ]);
  });
});
