/**
 * Pool health end to end (DESIGN.md §5): three srvproxy instances (the real
 * CLI) on 127.0.0.11-13, each with its own DNS and SIP, in front of the
 * simulated HA pair. Instances are killed (SIGKILL), frozen (SIGSTOP),
 * drained and brought back; every survivor's DNS answers (SRV of both
 * transports, the pool's A records, the additional section, the SOA serial)
 * follow within the documented bounds. A second site with the default
 * settings measures the withdrawal time after SIGKILL.
 */
import { expect } from 'chai';
import { UserAgent } from '../../../src/sim/ua.js';
import { EVENTS } from '../../../src/shared/events.js';
import { eventually, runCli, sleep, stopAll } from '../../support/processes.js';
import {
  expectedView, FAST_HEALTH, optionsTo, poolView, soaSerial, srvNames, srvTargets, startPoolSite, SRV_NAMES,
  type PoolInstance, type PoolSite,
} from '../../support/pool-site.js';

type View = Awaited<ReturnType<typeof poolView>>;

/**
 * Polls `inst`'s DNS until it answers exactly `members`; the milliseconds
 * from `since` to the first answer of the poll that showed it.
 */
async function untilView(inst: PoolInstance, members: PoolInstance[], since: number, withinMs: number): Promise<number> {
  const want = expectedView(members);
  let last: View | string = 'no answer';
  let at = 0;
  try {
    await eventually(
      async () => {
        await srvNames(inst.address, inst.site.dnsPort, SRV_NAMES[0]);
        at = Date.now();
        last = await poolView(inst.address, inst.site.dnsPort);
        return JSON.stringify(last) === JSON.stringify(want);
      },
      withinMs + 2000,
      '',
      20,
    );
  } catch {
    throw new Error(`${inst.fqdn}: answers never became ${JSON.stringify(want)}; last: ${JSON.stringify(last)}`);
  }
  return at - since;
}

/** Fail-open as /status (pool.failOpen) and /metrics (srvproxy_pool_fail_open) show it. */
async function failOpenShown(inst: PoolInstance): Promise<{ status: boolean; metric: number }> {
  const s = (await (await fetch(`${inst.http}/status`)).json()) as { pool: { failOpen: boolean } };
  const m = /^srvproxy_pool_fail_open (\d+)$/m.exec(await (await fetch(`${inst.http}/metrics`)).text());
  return { status: s.pool.failOpen, metric: Number(m?.[1]) };
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

describe('e2e: pool health (three instances on 127.0.0.11-13)', function () {
  this.timeout(60_000);
  const { downMs: DOWN_MS, upMs: UP_MS } = FAST_HEALTH;
  let site: PoolSite;
  let p1: PoolInstance, p2: PoolInstance, p3: PoolInstance;

  before(async function () {
    this.timeout(30_000);
    site = await startPoolSite({
      args: FAST_HEALTH.args,
      // Site 1's DNS prefers proxy1 and proxy2; the others prefer themselves (the default).
      argsFor: (i) => (i === 0 ? ['--local', 'proxy1.example.com', '--local', 'proxy2.example.com'] : []),
    });
    [p1, p2, p3] = site.instances as [PoolInstance, PoolInstance, PoolInstance];
  });

  after(async () => {
    await site?.stop();
    await stopAll();
  });

  it('every instance answers the whole pool, its local members first', async () => {
    for (const inst of site.instances) {
      expect(await poolView(inst.address, site.dnsPort), inst.fqdn).to.deep.equal(expectedView(site.instances));
    }
    for (const name of SRV_NAMES) {
      const on1 = await srvTargets(p1.address, site.dnsPort, name);
      expect(on1.map((r) => `${r.priority} ${r.name}`)).to.deep.equal(['10 proxy1.example.com', '10 proxy2.example.com', '1010 proxy3.example.com']);
      for (const inst of [p2, p3]) {
        const rrs = await srvTargets(inst.address, site.dnsPort, name);
        expect(rrs[0], `${name} on ${inst.fqdn}`).to.deep.include({ name: inst.fqdn, priority: 10, port: inst.sipPort });
        expect(rrs.slice(1).map((r) => r.priority), `${name} on ${inst.fqdn}`).to.deep.equal([1010, 1010]);
      }
    }
  });

  it(`SIGKILL: the instance is gone from both survivors' answers within ${DOWN_MS} ms, SOA serial up`, async () => {
    const before = [await soaSerial(p1.address, site.dnsPort), await soaSerial(p2.address, site.dnsPort)];
    const t0 = Date.now();
    await p3.kill();
    const took = await Promise.all([untilView(p1, [p1, p2], t0, DOWN_MS), untilView(p2, [p1, p2], t0, DOWN_MS)]);
    expect(Math.max(...took), `withdrawn after ${took.join(', ')} ms`).to.be.at.most(DOWN_MS);
    const after = [await soaSerial(p1.address, site.dnsPort), await soaSerial(p2.address, site.dnsPort)];
    expect(after[0]).to.be.greaterThan(before[0]!);
    expect(after[1]).to.be.greaterThan(before[1]!);
    // Local first on proxy1 still holds: proxy1 and proxy2 at the zone's priority.
    const on1 = await srvTargets(p1.address, site.dnsPort, SRV_NAMES[0]);
    expect(on1.map((r) => `${r.priority} ${r.name}`)).to.deep.equal(['10 proxy1.example.com', '10 proxy2.example.com']);
  });

  it(`SIGSTOP: the frozen instance is gone from the survivor's answers within ${DOWN_MS} ms, SOA serial up`, async () => {
    const before = await soaSerial(p1.address, site.dnsPort);
    const t0 = Date.now();
    p2.proc!.signal('SIGSTOP');
    const took = await untilView(p1, [p1], t0, DOWN_MS);
    expect(took, `withdrawn after ${took} ms`).to.be.at.most(DOWN_MS);
    expect(await soaSerial(p1.address, site.dnsPort)).to.be.greaterThan(before);
  });

  it('fail open: every peer down and self draining → the full configured set, POOL_FAIL_OPEN logged once', async () => {
    const s0 = await soaSerial(p1.address, site.dnsPort);
    const drain = await runCli(['drain', '--http', p1.http]);
    expect(drain.code, drain.stderr).to.equal(0);
    // Drain takes effect at once: no waiting for a probe.
    expect(await poolView(p1.address, site.dnsPort)).to.deep.equal(expectedView([p1, p2, p3]));
    const s1 = await soaSerial(p1.address, site.dnsPort);
    expect(s1).to.be.greaterThan(s0);
    await eventually(() => p1.proc!.output.includes(EVENTS.POOL_FAIL_OPEN.code), 2000, 'POOL_FAIL_OPEN logged');
    expect(await failOpenShown(p1)).to.deep.equal({ status: true, metric: 1 });
    const undrain = await runCli(['undrain', '--http', p1.http]);
    expect(undrain.code, undrain.stderr).to.equal(0);
    expect(await poolView(p1.address, site.dnsPort)).to.deep.equal(expectedView([p1]));
    expect(await soaSerial(p1.address, site.dnsPort)).to.be.greaterThan(s1);
    await eventually(() => p1.proc!.output.includes(EVENTS.POOL_FAIL_OPEN_END.code), 2000, 'POOL_FAIL_OPEN_END logged');
    expect(p1.proc!.output.match(new RegExp(`"event":"${EVENTS.POOL_FAIL_OPEN.code}"`, 'g'))).to.have.length(1);
    expect(await failOpenShown(p1)).to.deep.equal({ status: false, metric: 0 });
  });

  it(`return: the frozen one (SIGCONT) and the killed one (restarted) are answered again within ${UP_MS} ms`, async () => {
    const s0 = await soaSerial(p1.address, site.dnsPort);
    const t0 = Date.now();
    p2.proc!.signal('SIGCONT');
    const thawed = await untilView(p1, [p1, p2], t0, UP_MS);
    expect(thawed, `proxy2 back after ${thawed} ms`).to.be.at.most(UP_MS);
    const s1 = await soaSerial(p1.address, site.dnsPort);
    expect(s1).to.be.greaterThan(s0);

    await p3.start(); // resolves when it serves (/healthz); its SIP and DNS listen before that
    const t1 = Date.now();
    const took = await Promise.all([untilView(p1, site.instances, t1, UP_MS), untilView(p2, site.instances, t1, UP_MS)]);
    expect(Math.max(...took), `proxy3 back after ${took.join(', ')} ms`).to.be.at.most(UP_MS);
    expect(await soaSerial(p1.address, site.dnsPort)).to.be.greaterThan(s1);
    // The restarted instance starts with every peer healthy.
    expect(await poolView(p3.address, site.dnsPort)).to.deep.equal(expectedView(site.instances));
  });

  it('drain: OPTIONS 503 and gone from its own answers at once, from its peers within their threshold; calls still complete; undrain reverses it', async () => {
    const ua = await UserAgent.open({ proxy: { address: p3.address, port: p3.sipPort }, localAddress: '127.0.0.1', transactionTimeoutMs: 8000 });
    try {
      expect(await optionsTo(p3)).to.equal(200);
      // Its pair monitor has found the active member.
      await eventually(async () => {
        const st = (await (await fetch(`${p3.http}/status`)).json()) as { pairs: { inService: boolean; active: string | null }[] };
        return st.pairs.every((x) => x.inService && x.active !== null);
      }, 10_000, 'proxy3 sees its pair in service');
      const held = await ua.invite({ to: 'sip:1000@tserver.example.com' });
      expect(held.status, JSON.stringify(held)).to.equal(200);

      const drain = await runCli(['drain', '--http', p3.http]);
      // The drain took effect just before the CLI exited (starting the CLI may take a second on a busy machine).
      const t0 = Date.now();
      expect(drain.code, drain.stderr).to.equal(0);
      expect(await optionsTo(p3)).to.equal(503);
      expect(await poolView(p3.address, site.dnsPort)).to.deep.equal(expectedView([p1, p2]));
      const took = await Promise.all([untilView(p1, [p1, p2], t0, DOWN_MS), untilView(p2, [p1, p2], t0, DOWN_MS)]);
      expect(Math.max(...took), `drained instance withdrawn by peers after ${took.join(', ')} ms`).to.be.at.most(DOWN_MS);

      // Still forwarding: a new call routed to the drained instance, and the held call's BYE.
      const call = await ua.call({ to: 'sip:1001@tserver.example.com' });
      expect(call.ok, JSON.stringify(call)).to.equal(true);
      const bye = await ua.bye(held.dialog!);
      expect(bye.status, JSON.stringify(bye)).to.equal(200);

      const undrain = await runCli(['undrain', '--http', p3.http]);
      const t1 = Date.now();
      expect(undrain.code, undrain.stderr).to.equal(0);
      expect(await optionsTo(p3)).to.equal(200);
      expect(await poolView(p3.address, site.dnsPort)).to.deep.equal(expectedView(site.instances));
      const back = await Promise.all([untilView(p1, site.instances, t1, UP_MS), untilView(p2, site.instances, t1, UP_MS)]);
      expect(Math.max(...back), `undrained instance restored by peers after ${back.join(', ')} ms`).to.be.at.most(UP_MS);
    } finally {
      ua.close();
    }
  });
});

describe('e2e: pool health with the default settings (peer-interval 1, down-after 3)', function () {
  this.timeout(40_000);
  const BOUND_MS = 1 * (3 + 1) * 1000;
  let site: PoolSite;

  before(async function () {
    this.timeout(30_000);
    site = await startPoolSite({ instances: 2 });
  });

  after(async () => {
    await site?.stop();
    await stopAll();
  });

  it(`measures the withdrawal after SIGKILL (bound ${BOUND_MS} ms)`, async () => {
    const [p1, p2] = site.instances as [PoolInstance, PoolInstance];
    // Let the first probes run, so the kill lands at a random phase of the probe cycle.
    await sleep(1200 + Math.floor(Math.random() * 1000));
    const t0 = Date.now();
    await p2.kill();
    const took = await untilView(p1, [p1], t0, BOUND_MS);
    console.log(`withdrawal after SIGKILL: ${secs(took)} s`);
    expect(took).to.be.at.most(BOUND_MS);
  });
});
