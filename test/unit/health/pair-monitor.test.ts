/**
 * The pair monitor's state machine on a fake clock: every transition of
 * DESIGN.md §4 with its exact timing. oos-check = 500 ms and oos-force = 300 ms
 * so that the two timeouts cannot be mistaken for each other.
 */
import { expect } from 'chai';
import { FakeClock } from '../../../src/shared/clock.js';
import { EVENTS } from '../../../src/shared/events.js';
import { PairMonitor } from '../../../src/health/pair-monitor.js';
import { ScriptedProber, pairOf, recordingLogger, run, settle } from './fakes.js';

const A = 'sips-a.example.com';
const B = 'sips-b.example.com';
const CHECK = 500;
const FORCE = 300;

function setup() {
  const clock = new FakeClock();
  const prober = new ScriptedProber(clock);
  const rec = recordingLogger();
  const changes: string[] = [];
  const monitor = new PairMonitor({
    pair: pairOf('tserver.example.com', A, B),
    prober,
    clock,
    oosCheckMs: CHECK,
    oosForceMs: FORCE,
    log: rec.log,
    onChange: (p) => changes.push(p),
  });
  return { clock, prober, rec, monitor, changes };
}

describe('health/pair-monitor', () => {
  describe('check mode', () => {
    it('probes the primary at start, and again exactly oos-check after each probe while it answers', async () => {
      const { clock, prober, monitor, rec } = setup();
      prober.set(A, { status: 200, afterMs: 20 });
      monitor.start();
      expect(monitor.state()).to.deep.equal({ name: 'tserver.example.com', mode: 'check', active: A, inService: true, outOfService: false });
      await run(clock, 1600);
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + A, '1000:' + A, '1500:' + A]);
      expect(prober.calls.every((c) => c.timeoutMs === CHECK)).to.equal(true);
      expect(monitor.state().active).to.equal(A);
      expect(rec.events()).to.deep.equal([]);
      monitor.stop();
    });

    it('waits for oos-check to expire even when the answer is slow (499 ms)', async () => {
      const { clock, prober, monitor } = setup();
      prober.set(A, { status: 200, afterMs: 499 });
      monitor.start();
      await run(clock, 1100);
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + A, '1000:' + A]);
      expect(monitor.state().mode).to.equal('check');
      monitor.stop();
    });

    it('counts any final response but 503 as an answer (e.g. 404, 408 from the server)', async () => {
      const { clock, prober, monitor } = setup();
      prober.set(A, (n) => ({ status: n === 0 ? 404 : 408, afterMs: 5 }));
      monitor.start();
      await run(clock, 1200);
      expect(monitor.state().mode).to.equal('check');
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + A, '1000:' + A]);
      monitor.stop();
    });

    it('enters force mode at exactly oos-check when the active member does not answer, probing the other member first', async () => {
      const { clock, prober, monitor, rec } = setup();
      prober.set(A, 'silent').set(B, { status: 200, afterMs: 10 });
      monitor.start();
      await run(clock, CHECK - 1);
      expect(monitor.state().mode).to.equal('check');
      expect(prober.trace()).to.deep.equal(['0:' + A]);
      await run(clock, 1);
      expect(monitor.state()).to.deep.equal({ name: 'tserver.example.com', mode: 'force', active: null, inService: false, outOfService: false });
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + B]);
      expect(prober.calls[1]!.timeoutMs).to.equal(FORCE);
      const force = rec.events(EVENTS.PAIR_FORCE_MODE.code);
      expect(force).to.have.length(1);
      expect(force[0]).to.include({ pair: 'tserver.example.com', from: A });
      expect(String(force[0]!.cause)).to.match(/oos-check/);
    });

    it('a 503 from the active member means it is not active: force mode at once', async () => {
      const { clock, prober, monitor, rec } = setup();
      prober.set(A, { status: 503, afterMs: 30 }).set(B, { status: 200, afterMs: 10 });
      monitor.start();
      await run(clock, 29);
      expect(monitor.state().mode).to.equal('check');
      await run(clock, 1);
      expect(monitor.state().mode).to.equal('force');
      expect(prober.trace()).to.deep.equal(['0:' + A, '30:' + B]);
      await run(clock, 10);
      expect(monitor.state()).to.include({ mode: 'check', active: B, inService: true });
      expect(String(rec.events(EVENTS.PAIR_FORCE_MODE.code)[0]!.cause)).to.match(/503/);
      monitor.stop();
    });
  });

  describe('force mode', () => {
    it('the member that answers becomes active, back to check mode, next OPTIONS oos-check after the answer', async () => {
      const { clock, prober, monitor, rec } = setup();
      prober.set(A, 'silent').set(B, { status: 200, afterMs: 10 });
      monitor.start();
      await run(clock, 509);
      expect(monitor.state().mode).to.equal('force');
      await run(clock, 1);
      expect(monitor.state()).to.deep.equal({ name: 'tserver.example.com', mode: 'check', active: B, inService: true, outOfService: false });
      await run(clock, 1000);
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + B, '1010:' + B, '1510:' + B]);
      expect(prober.calls[2]!.timeoutMs).to.equal(CHECK);
      const sw = rec.events(EVENTS.PAIR_SWITCHOVER.code);
      expect(sw).to.have.length(1);
      expect(sw[0]).to.include({ pair: 'tserver.example.com', from: A, to: B });
      expect(rec.events(EVENTS.PAIR_CHECK_MODE.code)).to.have.length(1);
      expect(rec.events(EVENTS.PAIR_OUT_OF_SERVICE.code)).to.have.length(0);
      monitor.stop();
    });

    it('alternates between the members, one OPTIONS every oos-force, while nobody answers; out of service throughout', async () => {
      const { clock, prober, monitor, rec } = setup();
      monitor.start();
      await run(clock, 501);
      for (let i = 0; i < 5; i++) {
        expect(monitor.state()).to.include({ mode: 'force', active: null, inService: false });
        await run(clock, 300);
      }
      expect(prober.trace()).to.deep.equal([
        '0:' + A, '500:' + B, '800:' + A, '1100:' + B, '1400:' + A, '1700:' + B, '2000:' + A,
      ]);
      // The alarm: once, when both members have been probed in force mode without an answer.
      const oos = rec.events(EVENTS.PAIR_OUT_OF_SERVICE.code);
      expect(oos).to.have.length(1);
      expect(rec.events(EVENTS.PAIR_FORCE_MODE.code)).to.have.length(1);
      monitor.stop();
    });

    it('a member answering after an out-of-service spell brings the pair back in service (no switchover to the same member)', async () => {
      const { clock, prober, monitor, rec } = setup();
      monitor.start();
      await run(clock, 1999);
      prober.set(A, { status: 200, afterMs: 5 });
      await run(clock, 5);
      expect(monitor.state().mode).to.equal('force');
      await run(clock, 1);
      expect(monitor.state()).to.include({ mode: 'check', active: A, inService: true });
      expect(rec.events(EVENTS.PAIR_IN_SERVICE.code)).to.have.length(1);
      expect(rec.events(EVENTS.PAIR_SWITCHOVER.code)).to.have.length(0);
      await run(clock, 500);
      expect(prober.trace(2001)).to.deep.equal(['2505:' + A]);
      monitor.stop();
    });

    it('a 503 is not an answer: the standby keeps being skipped until the other member answers', async () => {
      const { clock, prober, monitor } = setup();
      prober.set(A, (n) => (n === 0 ? 'silent' : { status: 200, afterMs: 10 }));
      prober.set(B, { status: 503, afterMs: 5 });
      monitor.start();
      await run(clock, 806);
      expect(monitor.state().mode).to.equal('force');
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + B, '800:' + A]);
      await run(clock, 4);
      expect(monitor.state()).to.include({ mode: 'check', active: A });
      monitor.stop();
    });
  });

  describe('feedback from the SIP plane', () => {
    it('a request from the backup switches at once; the reply of the probe in flight is ignored', async () => {
      const { clock, prober, monitor, rec } = setup();
      prober.set(A, { status: 200, afterMs: 100 }).set(B, { status: 200, afterMs: 10 });
      monitor.start();
      await run(clock, 50);
      monitor.requestFromMember(A); // from the active member: nothing to do
      expect(monitor.state().active).to.equal(A);
      monitor.requestFromMember(B);
      expect(monitor.state()).to.include({ mode: 'check', active: B, inService: true });
      const sw = rec.events(EVENTS.PAIR_SWITCHOVER.code);
      expect(sw).to.have.length(1);
      expect(sw[0]).to.include({ from: A, to: B });
      await run(clock, 500);
      expect(monitor.state().active).to.equal(B);
      expect(prober.trace()).to.deep.equal(['0:' + A, '550:' + B]);
      monitor.stop();
    });

    it('a request from either member while in force mode makes it active', async () => {
      const { clock, prober, monitor } = setup();
      monitor.start();
      await run(clock, 600);
      expect(monitor.state().mode).to.equal('force');
      monitor.requestFromMember(A);
      expect(monitor.state()).to.include({ mode: 'check', active: A });
      await run(clock, 500);
      expect(prober.trace(501)).to.deep.equal(['1100:' + A]);
      monitor.stop();
    });

    it('memberFailed on the active member starts force mode at once; on the other member it is ignored', async () => {
      const { clock, prober, monitor, rec } = setup();
      prober.set(A, { status: 200, afterMs: 10 });
      monitor.start();
      await run(clock, 100);
      monitor.memberFailed(B, 'no response');
      monitor.requestFromMember('elsewhere.example.com');
      expect(monitor.state().mode).to.equal('check');
      monitor.memberFailed(A, 'INVITE timed out after 500 ms');
      expect(monitor.state()).to.include({ mode: 'force', active: null, inService: false });
      expect(prober.trace()).to.deep.equal(['0:' + A, '100:' + B]);
      expect(rec.events(EVENTS.PAIR_FORCE_MODE.code)[0]).to.include({ from: A, cause: 'INVITE timed out after 500 ms' });
      monitor.memberFailed(A, 'again'); // already in force mode: no second transition
      expect(rec.events(EVENTS.PAIR_FORCE_MODE.code)).to.have.length(1);
      await run(clock, 310);
      expect(prober.trace()).to.deep.equal(['0:' + A, '100:' + B, '400:' + A]);
      expect(monitor.state()).to.include({ mode: 'check', active: A });
      monitor.stop();
    });
  });

  describe('probe contexts', () => {
    it('a late reply after a mode change is ignored', async () => {
      const { clock, prober, monitor } = setup();
      // The first probe of A is answered after its deadline (a reply racing the timeout).
      prober.set(A, (n) => (n === 0 ? { status: 200, afterMs: 700 } : 'silent'));
      monitor.start();
      await run(clock, 799);
      expect(monitor.state()).to.include({ mode: 'force', active: null });
      expect(prober.trace()).to.deep.equal(['0:' + A, '500:' + B]);
      monitor.stop();
    });

    it('replies after stop() are ignored and no timer of the monitor is left', async () => {
      const { clock, prober, monitor, changes } = setup();
      prober.set(A, { status: 503, afterMs: 100 });
      monitor.start();
      await run(clock, 50);
      monitor.stop();
      const n = changes.length;
      await run(clock, 2000);
      expect(changes.length).to.equal(n);
      expect(prober.trace()).to.deep.equal(['0:' + A]);
      expect(clock.timerCount).to.equal(0);
      expect(monitor.state()).to.include({ mode: 'check', active: A });
    });

    it('a reconfiguration with moved members ignores the probe in flight and restarts the cycle', async () => {
      const { clock, prober, monitor } = setup();
      prober.set(A, (n) => (n === 0 ? { status: 503, afterMs: 100 } : { status: 200, afterMs: 10 }));
      monitor.start();
      await run(clock, 50);
      const moved = pairOf('tserver.example.com', A, B, 5070);
      monitor.reconfigure(moved);
      await run(clock, 100); // the 503 of the old probe arrives at 100: ignored
      expect(monitor.state()).to.include({ mode: 'check', active: A });
      expect(prober.trace()).to.deep.equal(['0:' + A, '50:' + A]);
      monitor.reconfigure(pairOf('tserver.example.com', A, B, 5070)); // same members: no restart
      await run(clock, 450);
      expect(prober.trace()).to.deep.equal(['0:' + A, '50:' + A, '550:' + A]);
      monitor.stop();
    });
  });

  describe('awaitActive', () => {
    it('resolves at once while a member is active', async () => {
      const { monitor, prober } = setup();
      prober.set(A, { status: 200, afterMs: 1 });
      monitor.start();
      expect(await monitor.awaitActive(10)).to.equal(A);
      monitor.stop();
    });

    it('after memberFailed, resolves only with a member that answered after the failure', async () => {
      const { clock, prober, monitor } = setup();
      // A's check probe is answered at 50, after A failed at 20: it must not count.
      prober.set(A, { status: 200, afterMs: 50 });
      monitor.start();
      await run(clock, 20);
      monitor.memberFailed(A, 'transport error');
      let got: string | null = null;
      void monitor.awaitActive(5000).then((t) => (got = t));
      await run(clock, 349); // t = 369
      expect(got).to.equal(null);
      await run(clock, 1);
      await settle();
      expect(got).to.equal(A);
      expect(clock.now()).to.equal(370);
      monitor.stop();
    });

    it('resolves with the backup that answers in force mode', async () => {
      const { clock, prober, monitor } = setup();
      prober.set(B, { status: 200, afterMs: 15 });
      monitor.start();
      monitor.memberFailed(A, 'timeout');
      const p = monitor.awaitActive(1000);
      await run(clock, 15);
      expect(await p).to.equal(B);
      monitor.stop();
    });

    it('rejects after timeoutMs while nobody answers, and when the monitor stops', async () => {
      const { clock, monitor } = setup();
      monitor.start();
      monitor.memberFailed(A, 'timeout');
      let err: (Error & { code?: string }) | null = null;
      void monitor.awaitActive(400).catch((e: Error) => (err = e));
      await run(clock, 399);
      expect(err).to.equal(null);
      await run(clock, 1);
      await settle();
      expect(err).to.have.property('code', 'SRV_ERR_PAIR_UNAVAILABLE');
      let err2: (Error & { code?: string }) | null = null;
      void monitor.awaitActive(150).catch((e: Error) => (err2 = e));
      monitor.stop();
      await settle();
      expect(err2).to.have.property('code', 'SRV_ERR_PAIR_UNAVAILABLE');
    });

    // Regression (switchover answered 503 at once): during a switchover requests wait for the
    // new active member; only a pair out of service (a whole force round without an answer)
    // turns them away, and then at once.
    it('switchover vs out of service: waiters wait through the force round and are rejected exactly when the pair goes out of service', async () => {
      const { clock, monitor, rec } = setup();
      monitor.start();
      await run(clock, CHECK); // A silent: force mode at 500, B probed, then A at 800
      expect(monitor.state()).to.include({ mode: 'force', active: null, inService: false, outOfService: false });
      let err: (Error & { code?: string }) | null = null;
      const t0 = clock.now();
      void monitor.awaitActive(10_000).catch((e: Error) => (err = e));
      await run(clock, 2 * FORCE - 1);
      expect(err).to.equal(null);
      expect(monitor.state().outOfService).to.equal(false);
      await run(clock, 1);
      await settle();
      expect(clock.now() - t0).to.equal(2 * FORCE);
      expect(rec.events(EVENTS.PAIR_OUT_OF_SERVICE.code)).to.have.length(1);
      expect(monitor.state()).to.include({ mode: 'force', active: null, inService: false, outOfService: true });
      expect(err).to.have.property('code', 'SRV_ERR_PAIR_UNAVAILABLE');
      let now: (Error & { code?: string }) | null = null;
      void monitor.awaitActive(10_000).catch((e: Error) => (now = e));
      await settle();
      expect(now, 'rejected at once while out of service').to.have.property('code', 'SRV_ERR_PAIR_UNAVAILABLE');
      monitor.stop();
    });

    it('a member answering after an out-of-service spell clears outOfService and resolves new waiters at once', async () => {
      const { clock, prober, monitor } = setup();
      monitor.start();
      await run(clock, CHECK + 2 * FORCE);
      expect(monitor.state().outOfService).to.equal(true);
      prober.set(A, { status: 200, afterMs: 5 }).set(B, { status: 200, afterMs: 5 });
      await run(clock, FORCE + 5);
      expect(monitor.state()).to.include({ mode: 'check', inService: true, outOfService: false });
      expect(await monitor.awaitActive(1)).to.equal(monitor.state().active);
      monitor.stop();
    });
  });
});
