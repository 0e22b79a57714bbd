/**
 * The health view as dns, sip and ops see it: draining, member health, pair
 * state, change events, feedback routing and reload (setSite).
 */
import { expect } from 'chai';
import { FakeClock } from '../../../src/shared/clock.js';
import { EVENTS } from '../../../src/shared/events.js';
import type { HealthChange } from '../../../src/shared/health.js';
import { HealthMonitor } from '../../../src/health/health-monitor.js';
import { ScriptedProber, pairOf, poolMember, recordingLogger, run, settle, siteOf } from './fakes.js';

const SELF = 'proxy1.example.com';
const P2 = 'proxy2.example.com';
const T = 'tserver.example.com';
const A = 'sips-a.example.com';
const B = 'sips-b.example.com';
const members = [poolMember(SELF, '127.0.0.11'), poolMember(P2, '127.0.0.12')];

function setup() {
  const clock = new FakeClock();
  const prober = new ScriptedProber(clock);
  const rec = recordingLogger();
  const health = new HealthMonitor({
    site: siteOf(SELF, members, [pairOf(T, A, B)]),
    prober, clock, oosCheckMs: 500, oosForceMs: 300,
    peerIntervalMs: 1000, peerDownAfter: 2, peerUpAfter: 2, log: rec.log,
  });
  const changes: HealthChange[] = [];
  health.onChange((c) => changes.push(c));
  return { clock, prober, rec, health, changes };
}

describe('health/health-monitor', () => {
  it('rejects non-positive timings at construction', () => {
    const { rec } = setup();
    const clock = new FakeClock();
    expect(() => new HealthMonitor({
      site: siteOf(SELF, members, [pairOf(T, A, B)]), prober: new ScriptedProber(clock), clock,
      oosCheckMs: 0, oosForceMs: 300, peerIntervalMs: 1000, peerDownAfter: 2, peerUpAfter: 2, log: rec.log,
    })).to.throw(RangeError, /oosCheckMs/);
  });

  it('self is unhealthy while draining; DRAIN_ON/OFF logged once per transition; version moves', () => {
    const { health, rec, changes } = setup();
    expect(health.isMemberHealthy(SELF)).to.equal(true);
    expect(health.isMemberHealthy('unknown.example.com')).to.equal(true);
    const v0 = health.version;
    health.setDraining(true);
    health.setDraining(true);
    expect(health.draining).to.equal(true);
    expect(health.isMemberHealthy(SELF)).to.equal(false);
    expect(health.isMemberHealthy(P2)).to.equal(true);
    health.setDraining(false);
    expect(health.isMemberHealthy(SELF)).to.equal(true);
    expect(rec.events(EVENTS.DRAIN_ON.code)).to.have.length(1);
    expect(rec.events(EVENTS.DRAIN_OFF.code)).to.have.length(1);
    expect(changes).to.deep.equal([{ kind: 'drain', draining: true }, { kind: 'drain', draining: false }]);
    expect(health.version).to.equal(v0 + 2);
  });

  it('probes peers but never itself, and reports pair and peer changes', async () => {
    const { clock, prober, health, changes } = setup();
    prober.set(A, { status: 200, afterMs: 5 }).set(P2, 'silent');
    health.start();
    expect(health.pairState(T)).to.include({ mode: 'check', active: A, inService: true });
    await run(clock, 1800);
    expect(prober.calls.some((c) => c.host === SELF)).to.equal(false);
    expect(health.isMemberHealthy(P2)).to.equal(false);
    expect(changes).to.deep.include({ kind: 'peer', target: P2, healthy: false });
    health.stop();
  });

  it('routes SIP feedback to the pair: requestFromMember, memberFailed, awaitActive', async () => {
    const { clock, prober, health, changes } = setup();
    prober.set(A, { status: 200, afterMs: 5 }).set(B, { status: 200, afterMs: 5 }).set(P2, { status: 200, afterMs: 1 });
    health.start();
    await run(clock, 10);
    health.requestFromMember(T, B);
    expect(health.pairState(T)).to.include({ active: B });
    expect(changes.filter((c) => c.kind === 'pair').length).to.be.greaterThan(0);
    health.memberFailed(T, B, 'timeout');
    expect(health.pairState(T)).to.include({ mode: 'force', active: null, inService: false });
    const p = health.awaitActive(T, 1000);
    await run(clock, 5);
    expect(await p).to.equal(A);
    let err: (Error & { code?: string }) | null = null;
    await health.awaitActive('nope.example.com', 10).catch((e: Error) => (err = e));
    expect(err).to.have.property('code', 'SRV_ERR_PAIR_UNAVAILABLE');
    expect(health.pairState('nope.example.com')).to.equal(undefined);
    health.stop();
  });

  it('setSite keeps the state of remaining pairs, starts new ones and stops removed ones', async () => {
    const { clock, prober, health } = setup();
    prober.set(A, 'silent').set(B, { status: 200, afterMs: 5 }).set(P2, { status: 200, afterMs: 1 });
    prober.set('sips-c.example.com', { status: 200, afterMs: 5 });
    health.start();
    await run(clock, 510);
    expect(health.pairState(T)).to.include({ active: B });
    const other = pairOf('other.example.com', 'sips-c.example.com', 'sips-d.example.com');
    health.setSite(siteOf(SELF, members, [pairOf(T, A, B), other]));
    expect(health.pairState(T)).to.include({ active: B, mode: 'check' });
    expect(health.pairState('other.example.com')).to.include({ active: 'sips-c.example.com' });
    await run(clock, 10);
    expect(prober.calls.some((c) => c.host === 'sips-c.example.com')).to.equal(true);
    health.setSite(siteOf(SELF, members, [other]));
    expect(health.pairState(T)).to.equal(undefined);
    const n = prober.calls.filter((c) => c.host === A || c.host === B).length;
    await run(clock, 2000);
    expect(prober.calls.filter((c) => c.host === A || c.host === B).length).to.equal(n);
    health.stop();
  });

  it('stop() cancels every timer', async () => {
    const { clock, prober, health } = setup();
    prober.set(A, { status: 200, afterMs: 5 }).set(P2, { status: 200, afterMs: 1 });
    health.start();
    await run(clock, 1200);
    health.stop();
    await run(clock, 1000);
    await settle();
    expect(clock.timerCount).to.equal(0);
  });
});
