/**
 * A real user agent fails over by DNS: baresip (Debian package) resolves the
 * pool sipproxy.example.com through srvproxy's DNS (RFC 3263: NAPTR, SRV,
 * A), registers through the instance the SRV answer puts first, and after
 * that instance is killed (SIGKILL) and withdrawn, its next transactions
 * (the REGISTER refresh and an OPTIONS through the outbound proxy) go
 * through a surviving instance to the simulated HA pair.
 *
 * baresip asks the DNS of proxy3 (which survives). proxy3 lists every member
 * as local, so it answers the zone's priorities: proxy1 (10) ahead of proxy2
 * and proxy3 (20); only the withdrawal can move baresip away from proxy1.
 * baresip runs with no audio device (no audio modules), SIP on 127.0.0.1,
 * commands and events over its ctrl_tcp module (netstring JSON).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.js';
import { eventually, stopAll } from '../support/processes.js';
import { POOL, expectedView, poolView, srvTargets, startPoolSite, type PoolInstance, type PoolSite } from '../support/pool-site.js';

/** One SIP message of baresip's trace (-s): direction line and the start line. */
interface Traced {
  from: string;
  to: string;
  start: string;
}

class Baresip {
  private child: ChildProcess | undefined;
  out = '';
  private ctrl: net.Socket | undefined;
  private inbuf = Buffer.alloc(0);
  readonly events: Record<string, unknown>[] = [];
  readonly responses: Record<string, unknown>[] = [];

  constructor(readonly dir: string, readonly ctrlPort: number) {}

  async start(): Promise<void> {
    this.child = spawn('baresip', ['-f', this.dir, '-s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.out += d.toString();
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    await eventually(
      async () => {
        if (this.child!.exitCode !== null) throw new Error('exited');
        this.ctrl = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(this.ctrlPort, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        return true;
      },
      10_000,
      'baresip ctrl_tcp',
      100,
    ).catch((e: Error) => {
      throw new Error(`baresip did not start: ${e.message}\n${this.out}`);
    });
    this.ctrl!.on('error', () => {});
    this.ctrl!.on('data', (d: Buffer) => this.onCtrl(d));
  }

  /** A command of baresip's menu, e.g. `options sip:x@y`. */
  command(command: string, params: string): void {
    const body = JSON.stringify({ command, params, token: String(Date.now()) });
    this.ctrl!.write(`${Buffer.byteLength(body)}:${body},`);
  }

  /** SIP messages baresip sent or received, in order (parsed from its trace). */
  trace(): Traced[] {
    const out: Traced[] = [];
    const re = /^(?:UDP|TCP) (\S+) -> (\S+)\r?\n(.*)$/gm;
    // eslint-disable-next-line no-control-regex -- strips the ANSI colour codes of baresip's trace
    for (const m of this.out.replace(/\x1b\[[0-9;]*m/g, '').matchAll(re)) out.push({ from: m[1]!, to: m[2]!, start: m[3]!.trim() });
    return out;
  }

  /** Requests of `method` baresip sent, with the destination, and the status that came back from there. */
  requests(method: string): { to: string; status: number | null }[] {
    const t = this.trace();
    const out: { to: string; status: number | null }[] = [];
    t.forEach((m, i) => {
      if (!m.start.startsWith(`${method} `)) return;
      const answer = t.slice(i + 1).find((r) => r.from === m.to && r.start.startsWith('SIP/2.0 ') && Number(r.start.split(' ')[1]) >= 200);
      out.push({ to: m.to, status: answer ? Number(answer.start.split(' ')[1]) : null });
    });
    return out;
  }

  async stop(): Promise<void> {
    this.ctrl?.destroy();
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }

  private onCtrl(d: Buffer): void {
    this.inbuf = Buffer.concat([this.inbuf, d]);
    for (;;) {
      const colon = this.inbuf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.inbuf.subarray(0, colon).toString());
      if (this.inbuf.length < colon + 1 + len + 1) return;
      const body = this.inbuf.subarray(colon + 1, colon + 1 + len).toString();
      this.inbuf = this.inbuf.subarray(colon + 2 + len);
      try {
        const msg = JSON.parse(body) as Record<string, unknown>;
        (msg.event ? this.events : this.responses).push(msg);
      } catch {
        // not JSON: ignore
      }
    }
  }
}

function hasBaresip(): boolean {
  return fs.existsSync('/usr/bin/baresip');
}

describe('interop: baresip fails over by DNS through the pool', function () {
  this.timeout(60_000);
  const INTERVAL = 0.5;
  let site: PoolSite;
  let ua: Baresip | undefined;
  let p1: PoolInstance, p2: PoolInstance, p3: PoolInstance;

  before(async function () {
    if (!hasBaresip()) throw new Error('baresip is not installed: run scripts/install-interop.sh');
    this.timeout(30_000);
    site = await startPoolSite({
      args: ['--peer-interval', String(INTERVAL), '--peer-down-after', '3', '--peer-up-after', '2'],
      priorityOf: (i) => (i === 0 ? 10 : 20),
      argsFor: (i) => (i === 2 ? ['--local', 'proxy1.example.com', '--local', 'proxy2.example.com'] : []),
    });
    [p1, p2, p3] = site.instances as [PoolInstance, PoolInstance, PoolInstance];
  });

  after(async () => {
    await ua?.stop();
    await site?.stop();
    await stopAll();
  });

  it('registers through the first SRV target; after it is killed and withdrawn, the next REGISTER and an OPTIONS go through a survivor', async () => {
    // proxy3's DNS puts proxy1 first.
    const srv = await srvTargets(p3.address, site.dnsPort, `_sip._udp.${POOL}`);
    expect(srv.map((r) => `${r.priority} ${r.name}`)).to.deep.equal(['10 proxy1.example.com', '20 proxy2.example.com', '20 proxy3.example.com']);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-baresip-'));
    const ctrlPort = await freePort('127.0.0.1');
    fs.writeFileSync(
      path.join(dir, 'config'),
      [
        'poll_method epoll',
        'sip_listen 127.0.0.1:0',
        `dns_server ${p3.address}:${site.dnsPort}`,
        'module_path /usr/lib/baresip/modules',
        'module_app account.so',
        'module_app menu.so',
        'module_app ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
        '',
      ].join('\n'),
    );
    // The outbound proxy is the pool, by name: every request resolves it through DNS.
    fs.writeFileSync(path.join(dir, 'accounts'), `<sip:alice@${POOL}>;outbound="sip:${POOL}";regint=10;answermode=manual\n`);
    ua = new Baresip(dir, ctrlPort);
    await ua.start();

    const at = (inst: PoolInstance) => `${inst.address}:${inst.sipPort}`;
    await eventually(() => ua!.requests('REGISTER').some((r) => r.status === 200), 10_000, `first REGISTER answered:\n${ua.out}`);
    const first = ua.requests('REGISTER');
    expect(first[0], ua.out).to.deep.equal({ to: at(p1), status: 200 });

    // The instance it used dies; proxy3's DNS withdraws it.
    const killedAt = Date.now();
    await p1.kill();
    await eventually(
      async () => JSON.stringify(await poolView(p3.address, site.dnsPort)) === JSON.stringify(expectedView([p2, p3])),
      INTERVAL * 4 * 1000 + 2000,
      'proxy1 withdrawn from proxy3 answers',
      20,
    );
    const withdrawnMs = Date.now() - killedAt;

    // The next REGISTER (the refresh) goes through a survivor and is answered.
    const n = ua.requests('REGISTER').length;
    await eventually(() => ua!.requests('REGISTER').slice(n).some((r) => r.status === 200), 15_000, `REGISTER refresh after the kill:\n${ua.out}`);
    const afterKill = ua.requests('REGISTER').slice(n);
    expect(afterKill[0]!.to, `withdrawn after ${withdrawnMs} ms; ${JSON.stringify(afterKill)}`).to.be.oneOf([at(p2), at(p3)]);
    expect(afterKill[0]!.status).to.equal(200);

    // An OPTIONS through the outbound proxy (the pool) to a user at the HA pair: a survivor forwards it, the pair answers.
    const o = ua.requests('OPTIONS').length;
    ua.command('options', 'sip:1000@tserver.example.com');
    await eventually(() => ua!.requests('OPTIONS').slice(o).some((r) => r.status !== null), 10_000, `OPTIONS answered:\n${ua.out}`);
    const opt = ua.requests('OPTIONS').slice(o)[0]!;
    expect(opt.to).to.be.oneOf([at(p2), at(p3)]);
    expect(opt.status).to.equal(200);
    // Nothing went to the dead instance after its withdrawal.
    const toDead = ua.requests('REGISTER').slice(n).concat(ua.requests('OPTIONS').slice(o)).filter((r) => r.to === at(p1));
    expect(toDead).to.deep.equal([]);
  });
});
