import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { promises as dnsp } from 'node:dns';
import path from 'node:path';
import { DIST, eventually } from '../../support/processes.js';
import { UserAgent } from '../../../src/sim/ua.js';

const ROOT = path.resolve(DIST, '..');

describe('demo site: npm start', function () {
  this.timeout(60_000);
  let demo: ChildProcess | undefined;
  let out = '';

  after(async () => {
    if (demo && demo.exitCode === null) {
      try {
        process.kill(-demo.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });

  it('comes up, answers a DNS query and a call, and stops cleanly on Ctrl-C', async () => {
    // `npm start` runs exactly this; spawned directly so that the demo's own exit code is seen.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).to.equal('node dist/src/demo/demo.js');
    // detached: its own process group, as a terminal's Ctrl-C reaches the whole group.
    demo = spawn(process.execPath, ['dist/src/demo/demo.js'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('Ctrl-C stops everything'), 30_000, 'demo ready').catch((e: Error) => {
      throw new Error(`${e.message}; demo output:\n${out}`);
    });

    const resolver = new dnsp.Resolver({ timeout: 1000, tries: 2 });
    resolver.setServers(['127.0.0.11:1053']);
    // Both instances serve once each has seen the other answer; on a loaded machine a probe may
    // still be in flight at the ready line, so the pool is read until it holds both (bounded).
    let names: string[] = [];
    await eventually(
      async () => {
        names = (await resolver.resolveSrv('_sip._udp.sipproxy.example.com')).map((r) => r.name).sort();
        return names.length === 2;
      },
      10_000,
      'both proxies in the pool',
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last answer ${JSON.stringify(names)}; demo output:\n${out}`);
    });
    expect(names).to.deep.equal(['proxy1.example.com', 'proxy2.example.com']);

    const ua = await UserAgent.open({ proxy: { address: '127.0.0.12', port: 5060 }, localAddress: '127.0.0.1' });
    try {
      const r = await ua.call({ to: 'sip:1000@tserver.example.com' });
      expect(r.ok, JSON.stringify(r)).to.equal(true);
      expect(r.answeredBy).to.equal('127.0.0.21:5060');
    } finally {
      ua.close();
    }

    const exited = new Promise<number | null>((resolve) => demo!.once('exit', (code) => resolve(code)));
    process.kill(-demo.pid!, 'SIGINT');
    const code = await exited;
    expect(code, out).to.equal(0);
    expect(out.match(/instance stopped/g), out).to.have.length(2);
    // Everything it started is gone: the pair's and the instances' ports are free again.
    for (const address of ['127.0.0.11', '127.0.0.12', '127.0.0.21', '127.0.0.22']) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(5060, address, () => resolve());
      });
      s.close();
    }
  });
});
