/**
 * The peer monitor on a fake clock: fixed-rate probing, quick confirmation
 * of a failure, separate down/up thresholds with consecutive counters (no
 * flapping), 503 = draining = failure.
 */
import { expect } from 'chai';
import { FakeClock } from '../../../src/shared/clock.js';
import { EVENTS } from '../../../src/shared/events.js';
import { PeerMonitor } from '../../../src/health/peer-monitor.js';
import { ScriptedProber, poolMember, recordingLogger, run, type Reply } from './fakes.js';

const P2 = 'proxy2.example.com';
const P3 = 'proxy3.example.com';
const OK: Reply = { status: 200, afterMs: 5 };

function setup(downAfter = 3, upAfter = 2) {
  const clock = new FakeClock();
  const prober = new ScriptedProber(clock);
  const rec = recordingLogger();
  const changes: string[] = [];
  const monitor = new PeerMonitor({
    prober, clock, intervalMs: 1000, downAfter, upAfter, log: rec.log,
    onChange: (t, h) => changes.push(`${clock.now()}:${t}:${h ? 'up' : 'down'}`),
  });
  monitor.setPeers([poolMember(P2, '127.0.0.12'), poolMember(P3, '127.0.0.13')]);
  return { clock, prober, rec, monitor, changes };
}

/** Replies by probe index from a string: 'o' answers 200, 'x' is silent, 'd' answers 503. */
function pattern(s: string): (n: number) => Reply {
  return (n) => {
    const c = s[Math.min(n, s.length - 1)];
    return c === 'o' ? OK : c === 'd' ? { status: 503, afterMs: 5 } : 'silent';
  };
}

describe('health/peer-monitor', () => {
  it('probes every peer once per interval with a timeout of half the interval; peers start healthy', async () => {
    const { clock, prober, monitor } = setup();
    prober.set(P2, OK).set(P3, OK);
    expect(monitor.isHealthy(P2)).to.equal(true);
    monitor.start();
    await run(clock, 2500);
    expect(prober.trace()).to.deep.equal(['0:' + P2, '0:' + P3, '1000:' + P2, '1000:' + P3, '2000:' + P2, '2000:' + P3]);
    expect(prober.calls.every((c) => c.timeoutMs === 500)).to.equal(true);
    monitor.stop();
  });

  it('withdraws a peer after exactly down-after consecutive failures, once, confirming a failure without waiting an interval', async () => {
    const { clock, prober, monitor, rec, changes } = setup(3, 2);
    prober.set(P2, 'silent').set(P3, OK);
    monitor.start();
    // The probe at 0 times out at 500; confirmations leave at once: 500 and 1000, time out at 1000 and 1500.
    await run(clock, 1499);
    expect(monitor.isHealthy(P2)).to.equal(true);
    await run(clock, 1);
    expect(monitor.isHealthy(P2)).to.equal(false);
    expect(monitor.isHealthy(P3)).to.equal(true);
    await run(clock, 5000);
    expect(changes).to.deep.equal(['1500:' + P2 + ':down']);
    // Once withdrawn, the interval's pace again: after the confirmation at 1000, probes at 2000, 3000, ...
    expect(prober.trace().filter((t) => t.endsWith(P2)).slice(0, 6)).to.deep.equal(['0', '500', '1000', '2000', '3000', '4000'].map((t) => `${t}:${P2}`));
    const ev = rec.events(EVENTS.PEER_WITHDRAWN.code);
    expect(ev).to.have.length(1);
    expect(ev[0]).to.include({ peer: P2 });
    monitor.stop();
  });

  it('does not flap: a success resets the failure count, a failure resets the success count', async () => {
    const { clock, prober, monitor, changes } = setup(3, 2);
    // up: x x o x x o ... never three failures in a row
    prober.set(P2, pattern('xxoxxoxxoxxo')).set(P3, OK);
    monitor.start();
    await run(clock, 12000);
    expect(changes).to.deep.equal([]);
    monitor.stop();
  });

  it('restores a withdrawn peer after exactly up-after consecutive successes; alternating results keep it down', async () => {
    const { clock, prober, monitor, changes, rec } = setup(2, 3);
    // down at the 2nd failure (the confirmation sent at 500 times out at 1000); then, at the interval's
    // pace from 1500: o x o x (stays down); then o o o → up at probe 8 (t=7500) + 5 ms
    prober.set(P2, pattern('xxoxoxooo' + 'o')).set(P3, OK);
    monitor.start();
    await run(clock, 7504);
    expect(changes).to.deep.equal(['1000:' + P2 + ':down']);
    await run(clock, 1);
    expect(changes).to.deep.equal(['1000:' + P2 + ':down', '7505:' + P2 + ':up']);
    expect(rec.events(EVENTS.PEER_RESTORED.code)).to.have.length(1);
    monitor.stop();
  });

  it('counts a 503 (the peer is draining) as a failure; a quick failure is confirmed one timeout later, not at once', async () => {
    const { clock, prober, monitor } = setup(2, 2);
    prober.set(P2, pattern('d')).set(P3, OK);
    monitor.start();
    await run(clock, 1010);
    expect(monitor.isHealthy(P2)).to.equal(false);
    expect(prober.trace().filter((t) => t.endsWith(P2))).to.deep.equal([`0:${P2}`, `500:${P2}`]);
    monitor.stop();
  });

  it('keeps the state of peers that remain when the peer list changes, forgets removed ones, starts new ones healthy', async () => {
    const { clock, prober, monitor } = setup(1, 1);
    prober.set(P2, 'silent').set(P3, OK);
    monitor.start();
    await run(clock, 900);
    expect(monitor.isHealthy(P2)).to.equal(false);
    monitor.setPeers([poolMember(P2, '127.0.0.12'), poolMember('proxy4.example.com', '127.0.0.14')]);
    expect(monitor.isHealthy(P2)).to.equal(false);
    expect(monitor.isHealthy('proxy4.example.com')).to.equal(true);
    const before = prober.calls.filter((c) => c.host === P3).length;
    await run(clock, 2000);
    expect(prober.calls.filter((c) => c.host === P3).length).to.equal(before);
    expect(prober.trace(900)).to.include.members(['900:proxy4.example.com', '1900:proxy4.example.com']);
    monitor.stop();
    await run(clock, 1000);
    expect(clock.timerCount).to.equal(0);
  });
});
