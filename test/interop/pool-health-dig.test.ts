/**
 * Pool health seen by BIND's dig (Debian bind9-dnsutils): three srvproxy
 * instances on 127.0.0.11-13; one is killed (SIGKILL) and both survivors'
 * answers drop it (SRV of both transports, the pool's A records, the
 * additional section) within peer-interval × (down-after + 1), with a larger
 * SOA serial; restarted, it is back within up-after probes.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eventually, stopAll } from '../support/processes.js';
import { FAST_HEALTH, POOL, SRV_NAMES, startPoolSite, type PoolInstance, type PoolSite } from '../support/pool-site.js';

const run = promisify(execFile);

interface DigView {
  srv: Record<string, string[]>;
  a: string[];
  additional: string[];
  serial: number;
  flags: string[];
}

/** dig NAME TYPE at the instance: answer and additional records as "name type rdata" lines (TTL dropped). */
async function dig(inst: PoolInstance, name: string, type: string): Promise<{ answer: string[]; additional: string[]; flags: string[] }> {
  const { stdout } = await run('dig', [`@${inst.address}`, '-p', String(inst.site.dnsPort), '+time=1', '+tries=1', '+norecurse', name, type], { timeout: 5000 });
  const flags = /;; flags: ([^;]*);/.exec(stdout)?.[1]?.trim().split(/\s+/) ?? [];
  const sections: Record<string, string[]> = { ANSWER: [], ADDITIONAL: [] };
  let current = '';
  for (const line of stdout.split('\n')) {
    const s = /^;; (\w+) SECTION:/.exec(line);
    if (s) current = s[1]!;
    else if (line.trim() === '') current = '';
    else if (sections[current] && !line.startsWith(';')) {
      const [owner, , , rtype, ...rdata] = line.trim().split(/\s+/);
      if (rtype !== 'OPT') sections[current]!.push(`${owner} ${rtype} ${rdata.join(' ')}`);
    }
  }
  return { answer: sections.ANSWER!.sort(), additional: sections.ADDITIONAL!.sort(), flags };
}

/** Every answer dig gets about the pool; `at`: when the first of them arrived. */
async function view(inst: PoolInstance): Promise<DigView & { at: number }> {
  const srv: Record<string, string[]> = {};
  let additional: string[] = [];
  let flags: string[] = [];
  let at = 0;
  for (const n of SRV_NAMES) {
    const r = await dig(inst, n, 'SRV');
    at ||= Date.now();
    srv[n] = r.answer.map((l) => l.split(' ').at(-1)!).sort();
    if (n === SRV_NAMES[0]) ({ additional, flags } = r);
  }
  const a = (await dig(inst, POOL, 'A')).answer.map((l) => l.split(' ').at(-1)!).sort();
  const soa = (await dig(inst, 'example.com', 'SOA')).answer[0]?.split(' ') ?? [];
  return { srv, a, additional, serial: Number(soa[4]), flags, at };
}

function expected(members: PoolInstance[]): Omit<DigView, 'serial' | 'flags'> {
  const names = members.map((m) => `${m.fqdn}.`).sort();
  return {
    srv: Object.fromEntries(SRV_NAMES.map((n) => [n, names])),
    a: members.map((m) => m.address).sort(),
    additional: members.map((m) => `${m.fqdn}. A ${m.address}`).sort(),
  };
}

describe('interop: pool health seen by dig (three instances)', function () {
  this.timeout(60_000);
  const { downMs: DOWN_MS, upMs: UP_MS } = FAST_HEALTH;
  let site: PoolSite;

  before(async function () {
    this.timeout(30_000);
    site = await startPoolSite({ args: FAST_HEALTH.args });
  });

  after(async () => {
    await site?.stop();
    await stopAll();
  });

  /**
   * Waits until dig at `inst` shows exactly `members`; the view, and the
   * milliseconds from `since` to the first answer of the poll that showed it
   * (a dig takes tens of milliseconds: the poll's end would overstate the time).
   */
  async function until(inst: PoolInstance, members: PoolInstance[], since: number, withinMs: number): Promise<{ ms: number; v: DigView }> {
    const want = JSON.stringify(expected(members));
    let v: (DigView & { at: number }) | undefined;
    const strip = (x: DigView) => JSON.stringify({ srv: x.srv, a: x.a, additional: x.additional });
    await eventually(
      async () => {
        v = await view(inst);
        return strip(v) === want;
      },
      withinMs + 2000,
      `dig at ${inst.fqdn}: ${want}; last ${JSON.stringify(v)}`,
      20,
    );
    return { ms: v!.at - since, v: v! };
  }

  it('kill, withdraw, return: both survivors agree, the SOA serial moves forward each time', async () => {
    const [p1, p2, p3] = site.instances as [PoolInstance, PoolInstance, PoolInstance];
    const start = await Promise.all([view(p1), view(p2)]);
    for (const v of start) {
      expect({ srv: v.srv, a: v.a, additional: v.additional }).to.deep.equal(expected(site.instances));
      expect(v.flags).to.include('aa');
    }

    const t0 = Date.now();
    await p3.kill();
    const gone = await Promise.all([until(p1, [p1, p2], t0, DOWN_MS), until(p2, [p1, p2], t0, DOWN_MS)]);
    expect(Math.max(...gone.map((g) => g.ms)), `withdrawn after ${gone.map((g) => g.ms).join(', ')} ms`).to.be.at.most(DOWN_MS);
    gone.forEach((g, i) => expect(g.v.serial, `serial on survivor ${i + 1}`).to.be.greaterThan(start[i]!.serial));

    await p3.start();
    const t1 = Date.now();
    const back = await Promise.all([until(p1, site.instances, t1, UP_MS), until(p2, site.instances, t1, UP_MS)]);
    expect(Math.max(...back.map((g) => g.ms)), `restored after ${back.map((g) => g.ms).join(', ')} ms`).to.be.at.most(UP_MS);
    back.forEach((g, i) => expect(g.v.serial, `serial on survivor ${i + 1}`).to.be.greaterThan(gone[i]!.v.serial));
  });
});
