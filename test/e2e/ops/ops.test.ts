/**
 * Operations end to end, through real instances (the CLI as child processes)
 * and the simulated HA pair: GET /status and /metrics contents (values) after
 * calls, a switchover and a peer withdrawal; drain/undrain/reload over HTTP
 * and through the CLI; SIGHUP with a broken zone and then a good one; SIGTERM
 * with a call ringing. Every state change is checked to be logged once with
 * its event code in the instance's JSON log lines.
 */
import { expect } from 'chai';
import { promises as dnsp } from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { startSimPair, type SimPair } from '../../../src/sim/ha-pair.js';
import { UserAgent } from '../../../src/sim/ua.js';
import { EVENTS, type EventName } from '../../../src/shared/events.js';
import { freePort } from '../../support/ports.js';
import { eventually, runCli, startSrvproxy, stopAll, type Proc } from '../../support/processes.js';
import { siteZoneText, writeSiteZone, type SiteZoneSpec } from '../../support/site-zone.js';

// --- helpers ------------------------------------------------------------------

/** The value of one sample of /metrics text whose labels are exactly `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    if (got === want) return Number(m[3]);
  }
  return undefined;
}

/** The instance's JSON log lines carrying `event`'s code. */
function eventLines(p: Proc, event: EventName): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of p.output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.event === EVENTS[event].code) out.push(o);
    } catch {
      // a partial line at the end of the buffer
    }
  }
  return out;
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  expect(r.status, url).to.equal(200);
  return (await r.json()) as T;
}

async function getText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  expect(r.status, url).to.equal(200);
  return r.text();
}

async function post(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

interface Status {
  self: string;
  draining: boolean;
  pool: { name: string; members: { target: string; port: number; addresses: string[]; healthy: boolean; self: boolean; rttMs?: number | null; since?: string }[] };
  pairs: {
    name: string;
    serving: boolean;
    inService: boolean;
    mode: string;
    active: string | null;
    members: { target: string; port: number; address: string; role: string; rttMs?: number | null }[];
    // additions beyond §3
    since?: string;
    switchovers?: number;
    lastSwitchover?: { at: string; from: string | null; to: string } | null;
  }[];
  events?: { code: string; name: string; at: string; text: string; detail: string }[];
}

/**
 * Exactly the DESIGN.md §3 fields of a /status document, in their order:
 * /status may grow (additions for the status page), never lose or rename one.
 */
function contract(s: Status): Status {
  return {
    self: s.self,
    draining: s.draining,
    pool: {
      name: s.pool.name,
      members: s.pool.members.map((m) => ({ target: m.target, port: m.port, addresses: m.addresses, healthy: m.healthy, self: m.self })),
    },
    pairs: s.pairs.map((p) => ({
      name: p.name,
      serving: p.serving,
      inService: p.inService,
      mode: p.mode,
      active: p.active,
      members: p.members.map((m) => ({ target: m.target, port: m.port, address: m.address, role: m.role })),
    })),
  };
}

const P1 = '127.0.0.61';
const P2 = '127.0.0.62';
const SA = '127.0.0.71';
const SB = '127.0.0.72';
const POOL = 'sipproxy.example.com';
const PAIR = 'tserver.example.com';

// Fast timers so that a switchover and a withdrawal happen within a second or two.
const TIMERS = ['--oos-check', '1', '--oos-force', '0.5', '--peer-interval', '0.2', '--peer-down-after', '2', '--peer-up-after', '2', '--hop-timeout', '0.3'];

describe('e2e: operations (status, metrics, drain, reload, signals)', function () {
  this.timeout(60_000);

  let pair: SimPair | undefined;
  let a: Proc;
  let b: Proc;
  let ua: UserAgent | undefined;
  let sipPort = 0;
  let dnsPort = 0;
  let httpA = '';
  let httpB = '';
  let zoneDirA = '';
  let spec: SiteZoneSpec;
  let resolver: dnsp.Resolver;

  before(async () => {
    sipPort = await freePort(P1);
    const pairPort = await freePort(SA);
    dnsPort = await freePort(P1);
    const [hA, hB] = [await freePort(), await freePort()];
    httpA = `http://127.0.0.1:${hA}`;
    httpB = `http://127.0.0.1:${hB}`;
    spec = {
      proxies: [
        { name: 'proxy1', address: P1, port: sipPort },
        { name: 'proxy2', address: P2, port: sipPort },
      ],
      pairs: { tserver: [{ name: 'sips-a', address: SA, port: pairPort }, { name: 'sips-b', address: SB, port: pairPort }] },
    };
    zoneDirA = writeSiteZone(spec);
    const zoneDirB = writeSiteZone(spec);
    pair = await startSimPair({ primary: { address: SA, port: pairPort }, backup: { address: SB, port: pairPort } });
    const common = ['--pair', PAIR, '--dns-port', String(dnsPort), ...TIMERS];
    [a, b] = await Promise.all([
      startSrvproxy(['--self', 'proxy1.example.com', '--zones', zoneDirA, ...common], hA, 'proxy1'),
      startSrvproxy(['--self', 'proxy2.example.com', '--zones', zoneDirB, ...common], hB, 'proxy2'),
    ]);
    resolver = new dnsp.Resolver({ timeout: 1000, tries: 2 });
    resolver.setServers([`${P1}:${dnsPort}`]);
    ua = await UserAgent.open({ proxy: { address: P1, port: sipPort }, transactionTimeoutMs: 5000 });
    // Started side by side, each may have probed the other before it listened: wait until each has
    // seen two more good probes of the other (probes of one peer never overlap, so any failure
    // streak is over) and sees both members healthy.
    const settled = async (url: string, peer: string) => {
      const okProbes = async () => sample(await getText(`${url}/metrics`), 'srvproxy_probes_total', { target: peer, result: 'ok' }) ?? 0;
      const ok0 = await okProbes();
      await eventually(async () => (await okProbes()) >= ok0 + 2, 5000, `${url}: two good probes of ${peer}`);
      await eventually(async () => (await getJson<Status>(`${url}/status`)).pool.members.every((m) => m.healthy), 5000, `${url}: both members healthy`);
    };
    await Promise.all([settled(httpA, 'proxy2.example.com'), settled(httpB, 'proxy1.example.com')]);
  });

  after(async () => {
    ua?.close();
    await stopAll();
    await pair?.stop();
  });

  it('GET /status: the DESIGN.md §3 document, field by field', async () => {
    const s = await getJson<Status>(`${httpA}/status`);
    const pairPort = spec.pairs.tserver![0].port;
    // Every §3 field, present with its value (contract() would hide a missing one as undefined).
    for (const k of ['self', 'draining', 'pool', 'pairs']) expect(s).to.have.property(k);
    for (const m of s.pool.members) expect(m).to.include.all.keys('target', 'port', 'addresses', 'healthy', 'self');
    for (const p of s.pairs) {
      expect(p).to.include.all.keys('name', 'serving', 'inService', 'mode', 'active', 'members');
      for (const m of p.members) expect(m).to.include.all.keys('target', 'port', 'address', 'role');
    }
    expect(contract(s)).to.deep.equal({
      self: 'proxy1.example.com',
      draining: false,
      pool: {
        name: POOL,
        members: [
          { target: 'proxy1.example.com', port: sipPort, addresses: [P1], healthy: true, self: true },
          { target: 'proxy2.example.com', port: sipPort, addresses: [P2], healthy: true, self: false },
        ],
      },
      pairs: [
        {
          name: PAIR,
          serving: true,
          inService: true,
          mode: 'check',
          active: 'sips-a.example.com',
          members: [
            { target: 'sips-a.example.com', port: pairPort, address: SA, role: 'primary' },
            { target: 'sips-b.example.com', port: pairPort, address: SB, role: 'backup' },
          ],
        },
      ],
    });
    const h = await fetch(`${httpA}/healthz`);
    expect(h.status).to.equal(200);
  });

  it('GET /metrics: DNS queries by type count exactly the queries sent', async () => {
    const before = await getText(`${httpA}/metrics`);
    const srv0 = sample(before, 'srvproxy_dns_queries_total', { qtype: 'SRV' }) ?? 0;
    const a0 = sample(before, 'srvproxy_dns_queries_total', { qtype: 'A' }) ?? 0;
    const noerr0 = sample(before, 'srvproxy_dns_responses_total', { rcode: 'NOERROR' }) ?? 0;
    const N = 7;
    for (let i = 0; i < N; i++) {
      const r = await resolver.resolveSrv(`_sip._udp.${POOL}`);
      expect(r.map((x) => x.name).sort()).to.deep.equal(['proxy1.example.com', 'proxy2.example.com']);
    }
    for (let i = 0; i < 3; i++) expect(await resolver.resolve4('sips-a.example.com')).to.deep.equal([SA]);
    const m = await getText(`${httpA}/metrics`);
    expect(sample(m, 'srvproxy_dns_queries_total', { qtype: 'SRV' })).to.equal(srv0 + N);
    expect(sample(m, 'srvproxy_dns_queries_total', { qtype: 'A' })).to.equal(a0 + 3);
    expect(sample(m, 'srvproxy_dns_responses_total', { rcode: 'NOERROR' })).to.equal(noerr0 + N + 3);
  });

  it('GET /metrics: SIP requests by method and forwarded per member count the calls', async () => {
    const before = await getText(`${httpA}/metrics`);
    const inv0 = sample(before, 'srvproxy_sip_requests_total', { method: 'INVITE' }) ?? 0;
    const bye0 = sample(before, 'srvproxy_sip_requests_total', { method: 'BYE' }) ?? 0;
    const fwd0 = sample(before, 'srvproxy_sip_forwarded_total', { member: 'sips-a.example.com' }) ?? 0;
    const ok0 = sample(before, 'srvproxy_sip_responses_total', { code: '200' }) ?? 0;
    const opt0 = sample(before, 'srvproxy_sip_requests_total', { method: 'OPTIONS' }) ?? 0;
    const CALLS = 3;
    for (let i = 0; i < CALLS; i++) {
      const r = await ua!.call({ to: `sip:100${i}@${PAIR}` });
      expect(r.ok, JSON.stringify(r)).to.equal(true);
      expect(r.answeredBy).to.equal(`${SA}:${spec.pairs.tserver![0].port}`);
    }
    const m = await getText(`${httpA}/metrics`);
    const why = m.split('\n').filter((l) => /^srvproxy_(sip|probe)/.test(l)).join('\n');
    expect(sample(m, 'srvproxy_sip_requests_total', { method: 'INVITE' }), why).to.equal(inv0 + CALLS);
    expect(sample(m, 'srvproxy_sip_requests_total', { method: 'BYE' }), why).to.equal(bye0 + CALLS);
    // The INVITE and the BYE of each call went to the primary (transaction-stateful forwards; the ACK of a 2xx is not a transaction).
    expect(sample(m, 'srvproxy_sip_forwarded_total', { member: 'sips-a.example.com' }), why).to.equal(fwd0 + 2 * CALLS);
    // 200 to each INVITE and each BYE, and to the peer's OPTIONS probes meanwhile.
    const probes = (sample(m, 'srvproxy_sip_requests_total', { method: 'OPTIONS' }) ?? 0) - opt0;
    expect(sample(m, 'srvproxy_sip_responses_total', { code: '200' }), why).to.equal(ok0 + 2 * CALLS + probes);
    expect(sample(m, 'srvproxy_sip_requests_total', { method: 'ACK' }), why).to.be.at.least(CALLS);
    expect(sample(m, 'srvproxy_sip_transactions_in_flight')).to.be.a('number');
    expect(sample(m, 'srvproxy_sip_transactions_pending'), why).to.equal(0);
    // Probes: the primary answered every check-mode OPTIONS so far, the peer too.
    expect(sample(m, 'srvproxy_probes_total', { target: 'sips-a.example.com', result: 'ok' }), why).to.be.greaterThan(0);
    expect(sample(m, 'srvproxy_probes_total', { target: 'sips-a.example.com', result: 'failed' }), why).to.equal(0);
    await eventually(async () => (sample(await getText(`${httpA}/metrics`), 'srvproxy_probes_total', { target: 'proxy2.example.com', result: 'ok' }) ?? 0) > 0, 2000, 'a good probe of the peer');
    expect(sample(m, 'srvproxy_probe_rtt_seconds', { target: 'sips-a.example.com' }), why).to.be.within(0, 1);
  });

  it('event-loop lag and process metrics are exported', async () => {
    const m = await getText(`${httpA}/metrics`);
    expect(m).to.match(/^# TYPE srvproxy_process_nodejs_eventloop_lag_seconds gauge$/m);
    const lag = sample(m, 'srvproxy_process_nodejs_eventloop_lag_seconds');
    expect(lag).to.be.a('number').within(0, 1);
    expect(sample(m, 'srvproxy_process_process_resident_memory_bytes')).to.be.greaterThan(0);
  });

  it('POST /drain and /undrain: status, own DNS answers, one DRAIN_ON and one DRAIN_OFF line', async () => {
    const withdrawnB0 = eventLines(b, 'PEER_WITHDRAWN').length;
    const restoredB0 = eventLines(b, 'PEER_RESTORED').length;
    const metricB0 = sample(await getText(`${httpB}/metrics`), 'srvproxy_peer_withdrawals_total', { member: 'proxy1.example.com' }) ?? 0;
    expect(await post(`${httpA}/drain`)).to.deep.equal({ status: 200, body: 'draining\n' });
    expect(await post(`${httpA}/drain`)).to.deep.equal({ status: 200, body: 'draining\n' }); // idempotent: no second event
    let s = await getJson<Status>(`${httpA}/status`);
    expect(s.draining).to.equal(true);
    expect(s.pool.members.map((m) => [m.target, m.healthy])).to.deep.equal([
      ['proxy1.example.com', false],
      ['proxy2.example.com', true],
    ]);
    expect((await resolver.resolveSrv(`_sip._udp.${POOL}`)).map((x) => x.name)).to.deep.equal(['proxy2.example.com']);
    expect(sample(await getText(`${httpA}/metrics`), 'srvproxy_draining')).to.equal(1);
    // The peer sees the 503 to its probes and withdraws the drained instance too.
    await eventually(async () => (await getJson<Status>(`${httpB}/status`)).pool.members[0]!.healthy === false, 5000, 'peer withdraws drained instance');

    expect(await post(`${httpA}/undrain`)).to.deep.equal({ status: 200, body: 'serving\n' });
    s = await getJson<Status>(`${httpA}/status`);
    expect(s.draining).to.equal(false);
    expect(s.pool.members.every((m) => m.healthy)).to.equal(true);
    expect((await resolver.resolveSrv(`_sip._udp.${POOL}`)).map((x) => x.name).sort()).to.deep.equal(['proxy1.example.com', 'proxy2.example.com']);
    await eventually(async () => (await getJson<Status>(`${httpB}/status`)).pool.members[0]!.healthy === true, 5000, 'peer restores undrained instance');

    expect(eventLines(a, 'DRAIN_ON')).to.have.length(1);
    expect(eventLines(a, 'DRAIN_OFF')).to.have.length(1);
    const peerLines = () => b.output.split('\n').filter((l) => /PEER_|SRV-4000[12]|DRAIN/.test(l)).join('\n');
    expect(eventLines(b, 'PEER_WITHDRAWN'), peerLines()).to.have.length(withdrawnB0 + 1);
    expect(eventLines(b, 'PEER_WITHDRAWN').at(-1)).to.include({ peer: 'proxy1.example.com', cause: '2 consecutive failed probes, last: draining (503)' });
    expect(eventLines(b, 'PEER_RESTORED')).to.have.length(restoredB0 + 1);
    const mb = await getText(`${httpB}/metrics`);
    expect(sample(mb, 'srvproxy_peer_withdrawals_total', { member: 'proxy1.example.com' })).to.equal(metricB0 + 1);
  });

  it('unknown paths 404, wrong methods 405', async () => {
    expect((await fetch(`${httpA}/nope`)).status).to.equal(404);
    expect((await fetch(`${httpA}/drain`)).status).to.equal(405);
    expect((await fetch(`${httpA}/status`, { method: 'POST' })).status).to.equal(405);
  });

  it('CLI: status (table and --json), drain, undrain, reload', async () => {
    const table = await runCli(['status', '--http', httpA]);
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout).to.include('instance proxy1.example.com\n');
    expect(table.stdout).to.include(`pool ${POOL}`);
    expect(table.stdout).to.match(/^proxy2\.example\.com\s+\d+\s+127\.0\.0\.62\s+up$/m);
    expect(table.stdout).to.include(`pair ${PAIR} (serving): in service, mode check, active sips-a.example.com`);
    expect(table.stdout).to.match(/^sips-a\.example\.com\s+primary\s+127\.0\.0\.71\s+\d+\s+active$/m);

    const json = await runCli(['status', '--json', '--http', httpA]);
    expect(json.code).to.equal(0);
    expect(contract(JSON.parse(json.stdout) as Status)).to.deep.equal(contract(await getJson<Status>(`${httpA}/status`)));

    const on0 = eventLines(a, 'DRAIN_ON').length;
    const off0 = eventLines(a, 'DRAIN_OFF').length;
    const d = await runCli(['drain', '--http', httpA]);
    expect([d.code, d.stdout]).to.deep.equal([0, 'drain: draining\n']);
    expect((await getJson<Status>(`${httpA}/status`)).draining).to.equal(true);
    const drained = await runCli(['status', '--http', httpA]);
    expect(drained.stdout).to.include('instance proxy1.example.com  (DRAINING)');
    expect(drained.stdout).to.match(/^proxy1\.example\.com\s+\d+\s+127\.0\.0\.61\s+WITHDRAWN\s+self$/m);
    const u = await runCli(['undrain', '--http', httpA]);
    expect([u.code, u.stdout]).to.deep.equal([0, 'undrain: serving\n']);
    expect((await getJson<Status>(`${httpA}/status`)).draining).to.equal(false);
    expect(eventLines(a, 'DRAIN_ON')).to.have.length(on0 + 1);
    expect(eventLines(a, 'DRAIN_OFF')).to.have.length(off0 + 1);

    const r = await runCli(['reload', '--http', httpA]);
    expect([r.code, r.stdout]).to.deep.equal([0, 'reload: reloaded example.com\n']);
    expect(eventLines(a, 'ZONE_RELOADED')).to.have.length(1);
  });

  it('CLI: a clear error and exit 3 when the instance is not reachable, exit 2 for a --http that is no URL', async () => {
    const closed = await freePort();
    for (const cmd of ['status', 'drain', 'undrain', 'reload']) {
      const r = await runCli([cmd, '--http', `http://127.0.0.1:${closed}`]);
      expect(r.code, `${cmd}: ${r.stderr}`).to.equal(3);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(new RegExp(`^srvproxy: cannot reach srvproxy at http://127\\.0\\.0\\.1:${closed}/(status|${cmd}): ECONNREFUSED\\n$`));
    }
    const bad = await runCli(['status', '--http', '127.0.0.1:8053']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.equal("srvproxy: --http: '127.0.0.1:8053' is not an http:// URL (e.g. http://127.0.0.1:8053)\n");
  });

  it('a switchover (primary killed): /status active and mode, switchover and active metrics, one PAIR_SWITCHOVER line', async () => {
    await pair!.primary.kill();
    await eventually(
      async () => {
        const p = (await getJson<Status>(`${httpA}/status`)).pairs[0]!;
        return p.active === 'sips-b.example.com' && p.inService;
      },
      10_000,
      'backup active',
    );
    const p = (await getJson<Status>(`${httpA}/status`)).pairs[0]!;
    expect(p).to.include({ name: PAIR, inService: true, mode: 'check', active: 'sips-b.example.com', serving: true, switchovers: 1 });
    // /status additions: the last switchover, since when the pair is in check mode again, the event codes
    expect(p.lastSwitchover).to.include({ from: 'sips-a.example.com', to: 'sips-b.example.com' });
    expect(Date.now() - Date.parse(p.lastSwitchover!.at)).to.be.within(0, 15_000);
    expect(Date.parse(p.since!)).to.be.at.least(Date.parse(p.lastSwitchover!.at) - 1000);
    expect(p.members.find((x) => x.target === 'sips-b.example.com')!.rttMs).to.be.a('number').within(0, 1000);
    const codes = (await getJson<Status>(`${httpA}/status`)).events!.map((e) => e.code);
    expect(codes).to.include.members([EVENTS.PAIR_SWITCHOVER.code, EVENTS.PAIR_FORCE_MODE.code, EVENTS.PAIR_CHECK_MODE.code]);
    const call = await ua!.call({ to: `sip:2000@${PAIR}` });
    expect(call.ok, JSON.stringify(call)).to.equal(true);
    expect(call.answeredBy).to.equal(`${SB}:${spec.pairs.tserver![1].port}`);

    const m = await getText(`${httpA}/metrics`);
    expect(sample(m, 'srvproxy_pair_switchovers_total', { pair: PAIR })).to.equal(1);
    expect(sample(m, 'srvproxy_pair_active', { pair: PAIR, member: 'sips-a.example.com' })).to.equal(0);
    expect(sample(m, 'srvproxy_pair_active', { pair: PAIR, member: 'sips-b.example.com' })).to.equal(1);
    expect(sample(m, 'srvproxy_pair_in_service', { pair: PAIR })).to.equal(1);
    expect(sample(m, 'srvproxy_sip_forwarded_total', { member: 'sips-b.example.com' })).to.be.at.least(2);
    const lines = eventLines(a, 'PAIR_SWITCHOVER');
    expect(lines, a.output).to.have.length(1);
    expect(lines[0]).to.include({ pair: PAIR, from: 'sips-a.example.com', to: 'sips-b.example.com' });
    expect(lines[0]!.cause).to.be.a('string').and.not.equal('');
    expect(eventLines(a, 'PAIR_FORCE_MODE')).to.have.length(1);
    expect(eventLines(a, 'PAIR_CHECK_MODE')).to.have.length(1);
  });

  it('a peer withdrawal (second instance killed): member healthy false, withdrawal metrics, one PEER_WITHDRAWN line', async () => {
    const w0 = sample(await getText(`${httpA}/metrics`), 'srvproxy_peer_withdrawals_total', { member: 'proxy2.example.com' }) ?? 0;
    const lines0 = eventLines(a, 'PEER_WITHDRAWN').length;
    const killedAt = Date.now();
    await b.kill();
    await eventually(async () => (await getJson<Status>(`${httpA}/status`)).pool.members[1]!.healthy === false, 5000, 'proxy2 withdrawn');
    const s = await getJson<Status>(`${httpA}/status`);
    expect(s.pool.members.map((m) => [m.target, m.healthy, m.self])).to.deep.equal([
      ['proxy1.example.com', true, true],
      ['proxy2.example.com', false, false],
    ]);
    // /status additions: since when withdrawn (after the kill), the last RTT seen; the event's code
    expect(Date.parse(s.pool.members[1]!.since!)).to.be.at.least(killedAt);
    expect(s.pool.members[1]!.rttMs).to.be.a('number').within(0, 1000);
    expect(s.pool.members[0]!.rttMs).to.equal(null);
    expect(s.events![0]).to.include({ code: EVENTS.PEER_WITHDRAWN.code, name: 'PEER_WITHDRAWN' });
    expect(s.events![0]!.detail).to.include('peer=proxy2.example.com');
    expect((await resolver.resolveSrv(`_sip._udp.${POOL}`)).map((x) => x.name)).to.deep.equal(['proxy1.example.com']);
    const m = await getText(`${httpA}/metrics`);
    expect(sample(m, 'srvproxy_peer_withdrawals_total', { member: 'proxy2.example.com' })).to.equal(w0 + 1);
    expect(sample(m, 'srvproxy_pool_member_healthy', { member: 'proxy2.example.com' })).to.equal(0);
    expect(sample(m, 'srvproxy_pool_member_healthy', { member: 'proxy1.example.com' })).to.equal(1);
    expect(sample(m, 'srvproxy_probes_total', { target: 'proxy2.example.com', result: 'failed' })).to.be.at.least(2);
    expect(sample(m, 'srvproxy_probes_total', { target: 'sips-a.example.com', result: 'failed' })).to.be.at.least(1);
    const lines = eventLines(a, 'PEER_WITHDRAWN');
    expect(lines).to.have.length(lines0 + 1);
    expect(lines.at(-1)).to.include({ peer: 'proxy2.example.com', level: 'warn' });
    expect(lines.at(-1)!.cause).to.match(/^2 consecutive failed probes, last: /);
  });

  it('SIGHUP with a broken zone keeps the old zone serving and logs ZONE_REJECTED with file:line; a good edit is served with a new serial', async () => {
    const file = path.join(zoneDirA, 'example.com.zone');
    const good = siteZoneText(spec);
    const serial0 = (await resolver.resolveSoa('example.com')).serial;
    const withdrawn0 = eventLines(a, 'PEER_WITHDRAWN').length;
    expect(await resolver.resolve4('ns1.example.com')).to.deep.equal(['127.0.0.1']);

    // Changes ns1's address and adds an SRV without its target on a known line.
    const goodLines = good.trimEnd().split('\n');
    const brokenLines = goodLines.map((l) => (l === 'ns1 A 127.0.0.1' ? 'ns1 A 127.0.0.9' : l));
    brokenLines.push('_sip._udp.broken SRV 10 50 5060');
    const badLine = brokenLines.length;
    fs.writeFileSync(file, brokenLines.join('\n') + '\n');
    a.signal('SIGHUP');
    await eventually(() => eventLines(a, 'ZONE_REJECTED').length === 1, 5000, 'ZONE_REJECTED logged');
    const rej = eventLines(a, 'ZONE_REJECTED')[0]!;
    expect(rej.error).to.be.a('string').and.include(`${file}:${badLine}: `);
    expect(rej.level).to.equal('error');
    // The old zone is still served, whole.
    expect(await resolver.resolve4('ns1.example.com')).to.deep.equal(['127.0.0.1']);
    expect((await resolver.resolveSoa('example.com')).serial).to.equal(serial0);
    expect(a.running).to.equal(true);
    // The same file through POST /reload: 422 with file:line.
    const viaHttp = await post(`${httpA}/reload`);
    expect(viaHttp.status).to.equal(422);
    expect(viaHttp.body).to.include(`${file}:${badLine}: `);
    const cli = await runCli(['reload', '--http', httpA]);
    expect(cli.code).to.equal(1);
    expect(cli.stderr).to.include(`reload: ${file}:${badLine}: `);
    expect(eventLines(a, 'ZONE_REJECTED')).to.have.length(3);

    // A good edit: a new name and ns1 moved.
    const edited = goodLines.map((l) => (l === 'ns1 A 127.0.0.1' ? 'ns1 A 127.0.0.9' : l));
    edited.push('newhost A 127.0.0.99');
    fs.writeFileSync(file, edited.join('\n') + '\n');
    const reloaded0 = eventLines(a, 'ZONE_RELOADED').length;
    a.signal('SIGHUP');
    await eventually(() => eventLines(a, 'ZONE_RELOADED').length === reloaded0 + 1, 5000, 'ZONE_RELOADED logged');
    expect(await resolver.resolve4('newhost.example.com')).to.deep.equal(['127.0.0.99']);
    expect(await resolver.resolve4('ns1.example.com')).to.deep.equal(['127.0.0.9']);
    expect((await resolver.resolveSoa('example.com')).serial).to.be.greaterThan(serial0);
    // Health state survives the reload: proxy2 is still withdrawn, the pair still on the backup.
    const s = await getJson<Status>(`${httpA}/status`);
    expect(s.pool.members[1]!.healthy).to.equal(false);
    expect(s.pairs[0]!.active).to.equal('sips-b.example.com');
    expect(eventLines(a, 'PEER_WITHDRAWN')).to.have.length(withdrawn0);
    expect(eventLines(a, 'PAIR_SWITCHOVER')).to.have.length(1);
  });
  it('the pair out of service and back: /status, metrics, 503 to a call, one PAIR_OUT_OF_SERVICE and one PAIR_IN_SERVICE line', async () => {
    await pair!.backup.kill();
    await eventually(async () => !(await getJson<Status>(`${httpA}/status`)).pairs[0]!.inService, 10_000, 'pair out of service');
    const p = (await getJson<Status>(`${httpA}/status`)).pairs[0]!;
    expect(p).to.include({ inService: false, active: null, mode: 'force' });
    let m = await getText(`${httpA}/metrics`);
    expect(sample(m, 'srvproxy_pair_in_service', { pair: PAIR })).to.equal(0);
    expect(sample(m, 'srvproxy_pair_active', { pair: PAIR, member: 'sips-b.example.com' })).to.equal(0);
    const inv = await ua!.invite({ to: `sip:4000@${PAIR}` });
    expect(inv.status).to.equal(503);
    await eventually(() => eventLines(a, 'PAIR_OUT_OF_SERVICE').length === 1, 5000, 'PAIR_OUT_OF_SERVICE logged');

    await pair!.primary.start('active');
    await eventually(async () => (await getJson<Status>(`${httpA}/status`)).pairs[0]!.active === 'sips-a.example.com', 10_000, 'primary back');
    m = await getText(`${httpA}/metrics`);
    expect(sample(m, 'srvproxy_pair_in_service', { pair: PAIR })).to.equal(1);
    expect(sample(m, 'srvproxy_pair_switchovers_total', { pair: PAIR })).to.equal(2);
    expect(eventLines(a, 'PAIR_OUT_OF_SERVICE')).to.have.length(1);
    expect(eventLines(a, 'PAIR_IN_SERVICE')).to.have.length(1);
    expect(eventLines(a, 'PAIR_IN_SERVICE')[0]).to.include({ pair: PAIR, active: 'sips-a.example.com' });
    expect(eventLines(a, 'PAIR_SWITCHOVER')).to.have.length(2);
    const call = await ua!.call({ to: `sip:4001@${PAIR}` });
    expect(call.ok, JSON.stringify(call)).to.equal(true);
  });
});

describe('e2e: operations, SIGTERM with a call in flight', function () {
  this.timeout(30_000);
  let pair: SimPair | undefined;
  let ua: UserAgent | undefined;

  after(async () => {
    ua?.close();
    await stopAll();
    await pair?.stop();
  });

  it('a call ringing when SIGTERM arrives completes; the instance stops answering as healthy, then exits 0', async () => {
    const P = '127.0.0.63';
    const A = '127.0.0.73';
    const B = '127.0.0.74';
    const sipPort = await freePort(P);
    const pairPort = await freePort(A);
    const dnsPort = await freePort(P);
    const httpPort = await freePort();
    const dir = writeSiteZone({
      proxies: [{ name: 'proxy1', address: P, port: sipPort }],
      pairs: { tserver: [{ name: 'sips-a', address: A, port: pairPort }, { name: 'sips-b', address: B, port: pairPort }] },
    });
    const RING_MS = 1500;
    pair = await startSimPair({ primary: { address: A, port: pairPort }, backup: { address: B, port: pairPort }, ringMs: RING_MS });
    const inst = await startSrvproxy(['--self', 'proxy1.example.com', '--pair', PAIR, '--zones', dir, '--dns-port', String(dnsPort)], httpPort, 'ringing');
    ua = await UserAgent.open({ proxy: { address: P, port: sipPort }, transactionTimeoutMs: 8000 });

    const started = Date.now();
    const invite = ua.invite({ to: `sip:3000@${PAIR}` });
    // The INVITE is at the server, ringing.
    await eventually(
      async () => sample(await getText(`http://127.0.0.1:${httpPort}/metrics`), 'srvproxy_sip_transactions_pending') === 1,
      RING_MS / 2,
      'INVITE in flight',
      20,
    );
    inst.signal('SIGTERM');
    let exitedAt = 0;
    const exited = inst.exited.then((code) => {
      exitedAt = Date.now();
      return code;
    });
    // While it waits for the call, it no longer answers as healthy.
    await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status === 503, 1000, '/healthz 503 while stopping', 20);
    const out = await invite;
    const answeredAt = Date.now();
    expect(out.status, JSON.stringify(out)).to.equal(200);
    expect(answeredAt - started).to.be.at.least(RING_MS - 100);
    expect(await exited).to.equal(0);
    expect(exitedAt).to.be.at.least(answeredAt - 50);
    expect(eventLines(inst, 'STOPPING')).to.have.length(1);
    expect(eventLines(inst, 'STOPPING')[0]).to.include({ reason: 'SIGTERM' });
    expect(eventLines(inst, 'STOPPED')).to.have.length(1);
    expect(eventLines(inst, 'DRAIN_ON')).to.have.length(1);
  });
});
