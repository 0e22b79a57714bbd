import { expect } from 'chai';
import { FakeClock } from '../../../../src/shared/clock.js';
import { silentLogger, withRecentEvents } from '../../../../src/shared/log.js';
import { RecentEvents } from '../../../../src/shared/recent-events.js';
import { AdaptiveAdmission, ENTER_LOOKS, EVAL_MS } from '../../../../src/sip/proxy/admission.js';

const TARGET = 100;
/** Looks in one period (2 s): one rate change at most per so many looks. */
const LOOKS = 2000 / EVAL_MS;
/** Requests admitted in one look at `rate` per second. */
const perLook = (rate: number) => Math.round((rate * EVAL_MS) / 1000);

/**
 * A proxy on a fake clock: one FIFO of messages (the socket's receive queue)
 * served at `capacity` work units per second; an admitted new request costs
 * 1 unit, a shed one (a 503) `shedCost`. A lateness probe enters the queue
 * every 100 ms and reports its age when it is served, as the UDP probe does.
 */
class Sim {
  readonly clock = new FakeClock();
  readonly events = new RecentEvents(100);
  readonly ctl: AdaptiveAdmission;
  /** Arrival times; a probe is stored as -(time + 1). */
  private readonly queue: number[] = [];
  private head = 0;
  private budget = 0;
  private arrivals = 0;
  private nextProbe = 0;
  /** Send times of the probes still queued, oldest first. */
  private readonly outstanding: number[] = [];
  private lastAge = 0;
  /** Work units spent since the controller last read the utilisation, and when that was. */
  private used = 0;
  private usedSince = 0;
  /** While above the clock, the process is stalled (a pause: nothing is served, no work is done). */
  stalledUntil = 0;
  /** Probes sent and reported during a stall too (false: as a stalled process, which sends none, behaves). */
  probesWhileStalled = true;
  admitted = 0;
  shed = 0;
  readonly ages: number[] = [];

  constructor(
    readonly capacity: number,
    readonly shedCost = 0.1,
    /** Whether the controller reads the utilisation (as the service gives it). */
    withUtilization = true,
  ) {
    const utilization = () => {
      const ms = this.clock.now() - this.usedSince;
      const u = ms > 0 ? Math.min(1, this.used / ((this.capacity * ms) / 1000)) : 0;
      this.used = 0;
      this.usedSince = this.clock.now();
      return u;
    };
    this.ctl = new AdaptiveAdmission({ targetMs: TARGET }, this.clock, withRecentEvents(silentLogger, this.events), undefined, withUtilization ? utilization : undefined);
    this.ctl.start();
  }

  /** Offers `rate` new requests per second for `ms`, 10 ms steps; calls `each` every second. */
  run(rate: number, ms: number, each?: (sim: Sim) => void): void {
    for (let t = 0; t < ms; t += 10) {
      this.clock.advance(10);
      const now = this.clock.now();
      this.arrivals += rate / 100;
      while (this.arrivals >= 1) {
        this.queue.push(now);
        this.arrivals--;
      }
      if (now >= this.nextProbe && (this.probesWhileStalled || now > this.stalledUntil)) {
        // as the UDP listener does: a probe still queued from an earlier round reports its age so far
        if (this.outstanding.length > 0) this.report(now - this.outstanding[0]!);
        this.outstanding.push(now);
        this.queue.push(-(now + 1));
        this.nextProbe = now + 100;
      }
      this.budget = now <= this.stalledUntil ? 0 : Math.min(this.budget + this.capacity / 100, this.capacity / 100);
      // serve in order while some budget is left (an item's cost may overdraw by one item)
      while (this.head < this.queue.length && this.budget > 0) {
        const at = this.queue[this.head++];
        if (at < 0) {
          this.outstanding.shift();
          const age = now - (-at - 1);
          this.ages.push(age);
          this.report(age);
        } else if (this.ctl.admit()) {
          this.admitted++;
          this.budget -= 1;
          this.used += 1;
        } else {
          this.shed++;
          this.budget -= this.shedCost;
          this.used += this.shedCost;
        }
      }
      if (this.head > 10_000) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      if (each && now % 1000 === 0) each(this);
    }
  }

  /** run(), and what it saw: the probe ages read, and the requests admitted per second. */
  measure(rate: number, ms: number, each?: (sim: Sim) => void): { ages: number[]; goodput: number } {
    const ages0 = this.ages.length;
    const admitted0 = this.admitted;
    this.run(rate, ms, each);
    return { ages: this.ages.slice(ages0), goodput: ((this.admitted - admitted0) * 1000) / ms };
  }

  /** One probe age to the controller, with whether it grew since the last (as the UDP listener reports it). */
  private report(age: number): void {
    this.ctl.sample(age, age > this.lastAge);
    this.lastAge = age;
  }

  eventNames(): string[] {
    return this.events.list().map((e) => e.name).reverse();
  }
}

/** ENTER_LOOKS looks admitting `rate` per second at `lateMs` of lateness: limiting from then on. */
function enterLimiting(ctl: AdaptiveAdmission, clock: FakeClock, rate: number, lateMs: number): void {
  for (let look = 0; look < ENTER_LOOKS; look++) {
    for (let i = 0; i < perLook(rate); i++) ctl.admit();
    ctl.sample(lateMs);
    clock.advance(EVAL_MS);
  }
}

describe('sip/proxy/admission (adaptive overload control on a fake clock)', () => {
  it('under twice its capacity, converges: lateness under the target and goodput near capacity within 10 s', () => {
    const sim = new Sim(1000);
    sim.run(500, 5000);
    expect(sim.ctl.limiting).to.equal(false);
    expect(sim.shed).to.equal(0);
    sim.run(2000, 10_000);
    expect(sim.ctl.limiting).to.equal(true);
    const { ages, goodput } = sim.measure(2000, 20_000);
    const meanAge = ages.reduce((a, b) => a + b, 0) / ages.length;
    console.log(`      [figure] capacity 1000/s, offered 2000/s: admitted ${goodput.toFixed(0)}/s, mean lateness ${meanAge.toFixed(0)} ms, max ${Math.max(...ages)} ms`);
    expect(goodput).to.be.greaterThan(700);
    expect(meanAge).to.be.lessThan(TARGET);
    const sorted = [...ages].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length * 0.95)]).to.be.lessThan(3 * TARGET);
    expect(sorted[sorted.length - 1]).to.be.lessThan(5 * TARGET);
    expect(sim.eventNames()).to.deep.equal(['SIP_OVERLOAD_ADAPTIVE']);
  });

  it('does not oscillate: at a steady overload the rate stays within a narrow band and the state never flips back', () => {
    const sim = new Sim(1000);
    sim.run(3000, 10_000);
    const rates: number[] = [];
    sim.run(3000, 40_000, (s) => rates.push(s.ctl.snapshot().rate ?? NaN));
    expect(rates.every((r) => Number.isFinite(r))).to.equal(true);
    const lo = Math.min(...rates);
    const hi = Math.max(...rates);
    console.log(`      [figure] capacity 1000/s, offered 3000/s for 40 s: rate between ${lo.toFixed(0)} and ${hi.toFixed(0)}/s`);
    expect(hi / lo).to.be.lessThan(1.6);
    // at most one change a period: 40 s of 1 s samples show no more than 20 distinct values
    let changes = 0;
    for (let i = 1; i < rates.length; i++) if (rates[i] !== rates[i - 1]) changes++;
    expect(changes).to.be.at.most(20);
    expect(sim.eventNames()).to.deep.equal(['SIP_OVERLOAD_ADAPTIVE']);
  });

  it('recovers: when the load drops it admits everything again within seconds, logging the end once', () => {
    const sim = new Sim(1000);
    sim.run(2500, 15_000);
    expect(sim.ctl.limiting).to.equal(true);
    const shed0 = sim.shed;
    let endAt = -1;
    sim.run(300, 15_000, (s) => {
      if (endAt < 0 && !s.ctl.limiting) endAt = s.clock.now();
    });
    const recoveryMs = endAt - 15_000;
    console.log(`      [figure] back to admitting everything ${recoveryMs} ms after the load dropped`);
    expect(endAt).to.be.greaterThan(0);
    expect(recoveryMs).to.be.at.most(10_000);
    const shedAfter = sim.shed - shed0;
    sim.run(300, 5000);
    expect(sim.shed - shed0).to.equal(shedAfter);
    expect(sim.eventNames()).to.deep.equal(['SIP_OVERLOAD_ADAPTIVE', 'SIP_OVERLOAD_ADAPTIVE_END']);
    // and a new overload is noticed again
    sim.run(2500, 5000);
    expect(sim.ctl.limiting).to.equal(true);
  });

  it('while requests are refused and work is on time, the rate rises by the idle share of the loop: at a quarter busy every two looks, above 85% only once a period', () => {
    /** Looks until the rate admits a demand of 800/s, from a limit of 100/s; the loop is busy `busy(rate)` of the time. */
    const climb = (withUtilization: boolean, busy: (rate: number) => number) => {
      const clock = new FakeClock();
      let rate = 0;
      let entering = true;
      const util = () => (entering ? 1 : busy(rate));
      const ctl = new AdaptiveAdmission({ targetMs: TARGET }, clock, silentLogger, undefined, withUtilization ? util : undefined);
      ctl.start();
      enterLimiting(ctl, clock, 200, 1200); // 200/s carried
      rate = ctl.snapshot().rate!;
      entering = false;
      expect(rate).to.equal(100);
      const seen = [rate];
      for (let look = 1; look <= 20 * LOOKS; look++) {
        for (let t = 0; t < EVAL_MS; t += 10) {
          clock.advance(10);
          for (let i = 0; i < 8; i++) ctl.admit(); // 800/s offered
        }
        ctl.sample(5);
        rate = ctl.snapshot().rate ?? Infinity;
        seen.push(rate);
        if (rate >= 800) return { looks: look, seen };
      }
      return { looks: Infinity, seen };
    };
    const changes = (seen: number[]) => seen.map((r, i) => (i > 0 && r !== seen[i - 1] ? i : -1)).filter((i) => i >= 0);
    const idle = climb(true, (rate) => Math.min(1, 0.05 + rate / 1000));
    const busy = climb(true, (rate) => Math.min(1, 0.88 + rate / 10_000));
    const additive = climb(false, () => 1);
    const show = (x: { looks: number; seen: number[] }) => `${x.looks} looks (${[...new Set(x.seen)].map((r) => Math.round(r)).join(' ')})`;
    console.log(`      [figure] from 100/s to a demand of 800/s: a quarter busy ${show(idle)}; 88% busy ${show(busy)}; additive steps alone ${show(additive)}`);
    // a quarter busy: at most doubled a change, changes at least FAST_RISE_LOOKS (2) looks apart, 800/s within a period
    expect(idle.looks).to.be.at.most(LOOKS);
    const at = changes(idle.seen);
    for (let k = 0; k < at.length; k++) {
      expect(idle.seen[at[k]!]! / idle.seen[at[k]! - 1]!).to.be.at.most(2);
      if (k > 0) expect(at[k]! - at[k - 1]!).to.be.at.least(2);
    }
    // busier than FAST_RISE_UTIL (0.85): one change a period at most
    const atBusy = changes(busy.seen);
    for (let k = 1; k < atBusy.length; k++) expect(atBusy[k]! - atBusy[k - 1]!).to.be.at.least(LOOKS);
    expect(busy.looks).to.be.greaterThan(idle.looks);
    // and still faster than additive steps alone
    expect(Math.max(...busy.seen)).to.be.greaterThan(Math.max(...additive.seen));
  });

  it('a surge (the loop saturated, work later at every look) is limited while its lateness is still near the target, with room left for the refusals', () => {
    const sim = new Sim(1000, 0.2);
    sim.run(600, 5000);
    expect(sim.ctl.limiting).to.equal(false);
    const { ages: onset, goodput } = sim.measure(1600, 10_000);
    console.log(`      [figure] capacity 1000/s, 600/s then 1600/s: worst lateness ${Math.max(...onset)} ms (target ${TARGET}), admitted ${goodput.toFixed(0)}/s over the 10 s`);
    expect(sim.ctl.limiting).to.equal(true);
    const entered = sim.events.list().find((e) => e.name === 'SIP_OVERLOAD_ADAPTIVE');
    // the looks' surge test or the backlog guard (a probe past 1.5 × the target, growing), whichever sees it first
    expect(entered?.detail).to.match(/\bcause=(surge|backlog)\b/);
    expect(Math.max(...onset)).to.be.at.most(2 * TARGET);
    // the most that keeps up with 1600/s when a refusal costs 0.2 of a call: 850/s
    expect(goodput).to.be.greaterThan(750);
  });

  it('while limiting, a surge under a rate the bucket does not bind (nothing refused) is cut as early as while open; while it refuses, only over the target', () => {
    const after = (refusing: boolean) => {
      const clock = new FakeClock();
      let util = 1;
      const ctl = new AdaptiveAdmission({ targetMs: TARGET }, clock, silentLogger, undefined, () => util);
      ctl.start();
      enterLimiting(ctl, clock, 400, 1200);
      expect(ctl.snapshot()).to.include({ state: 'limiting', rate: 200 });
      // work off the backlog: on time, the loop half idle, demand at the rate
      util = 0.9;
      for (let look = 0; look < 3; look++) {
        for (let t = 0; t < EVAL_MS; t += 10) {
          clock.advance(10);
          ctl.admit();
          ctl.admit();
        }
        ctl.sample(1);
      }
      const before = ctl.snapshot().rate!;
      // a surge: saturated, later at each look, still under the target (100 ms)
      util = 1;
      for (const late of [30, 55, 90]) {
        for (let t = 0; t < EVAL_MS; t += 10) {
          clock.advance(10);
          ctl.admit(); // 100/s: under the rate, nothing refused
          if (refusing && t === 0) for (let i = 0; i < 5; i++) ctl.admit();
        }
        ctl.sample(late);
      }
      return { before, after: ctl.snapshot().rate!, shed: ctl.snapshot().shed };
    };
    const quiet = after(false);
    expect(quiet.after, 'cut at once (to the floor: half the rate at entry)').to.be.lessThan(quiet.before);
    const busy = after(true);
    expect(busy.shed).to.be.greaterThan(0);
    expect(busy.after, 'while refusing: under the target, no cut').to.equal(busy.before);
  });

  it('the backlog guard: a queue near T1 with the loop saturated refuses every new request at once, and lets go when probes are on time again', () => {
    const sim = new Sim(1000, 0.2);
    sim.run(600, 3000);
    expect(sim.ctl.refusing).to.equal(false);
    // three times the capacity at once: the queue ages by 2/3 ms a ms, past T1 in under a second
    let firstRefusalAt = -1;
    const t0 = sim.clock.now();
    const { ages: onset, goodput } = sim.measure(3000, 6000, (s) => {
      if (firstRefusalAt < 0 && s.shed > 0) firstRefusalAt = s.clock.now() - t0;
    });
    console.log(`      [figure] capacity 1000/s, 600/s then 3000/s: worst lateness ${Math.max(...onset)} ms, admitted ${goodput.toFixed(0)}/s over 6 s, ${sim.ctl.guardShed} refused by the guard`);
    expect(sim.ctl.guardShed).to.be.greaterThan(0);
    // a probe at most GUARD_MS old trips it; the probes already queued behind it come out older by at most one interval's growth
    expect(Math.max(...onset)).to.be.at.most(400);
    expect(firstRefusalAt).to.be.within(0, 1000);
    // 3000/s at 0.2 a refusal: (1000 − 0.2 × 3000) / 0.8 = 500/s is the most that keeps up
    expect(goodput).to.be.greaterThan(400);
    // the load gone, the guard lets go: everything admitted again within seconds
    sim.run(300, 12_000);
    expect(sim.ctl.refusing).to.equal(false);
    const shed = sim.shed;
    sim.run(300, 2000);
    expect(sim.shed).to.equal(shed);
  });

  it('the backlog guard does not trip on old probes while the loop idles (a stalled or starved process), nor while the control is off', () => {
    const sim = new Sim(1000, 0.1);
    sim.probesWhileStalled = false;
    sim.run(300, 2000);
    for (let i = 0; i < 4; i++) {
      sim.stalledUntil = sim.clock.now() + 600;
      sim.run(300, 800);
    }
    expect(Math.max(...sim.ages)).to.be.greaterThan(500);
    expect(sim.ctl.guardShed).to.equal(0);
    expect(sim.shed).to.equal(0);
    const clock = new FakeClock();
    const off = new AdaptiveAdmission({ targetMs: 0 }, clock, silentLogger, undefined, () => 1);
    for (let i = 0; i < 10; i++) {
      off.evaluate();
      off.sample(2000);
      clock.advance(EVAL_MS);
    }
    expect(off.refusing).to.equal(false);
    expect(off.admit()).to.equal(true);
  });

  it('lateness while the loop is mostly idle (the machine starved it, not its own work) does not start limiting', () => {
    const stalls = (withUtilization: boolean) => {
      const sim = new Sim(1000, 0.1, withUtilization);
      sim.run(300, 2000);
      for (let i = 0; i < 8; i++) {
        sim.stalledUntil = sim.clock.now() + 400;
        sim.run(300, 500);
      }
      return sim;
    };
    const sim = stalls(true);
    expect(sim.ctl.snapshot().latenessMs).to.be.greaterThan(TARGET);
    expect(sim.ctl.snapshot().utilization).to.be.lessThan(0.5);
    expect(sim.ctl.limiting).to.equal(false);
    expect(sim.shed).to.equal(0);
    // lateness alone would have started limiting
    expect(stalls(false).ctl.limiting).to.equal(true);
  });

  it('a loop that reads as saturated while the process ran little CPU (waiting for a core on a starved machine) is no surge', () => {
    const surgeWith = (cpu: number) => {
      const clock = new FakeClock();
      const events = new RecentEvents(10);
      const ctl = new AdaptiveAdmission({ targetMs: TARGET }, clock, withRecentEvents(silentLogger, events), undefined, () => 1, () => cpu);
      ctl.start();
      // 200/s, the loop "saturated" at every look, work later at each: 30, 55, 90 ms (on course past 100 ms)
      for (const late of [10, 30, 55, 90]) {
        for (let t = 0; t < EVAL_MS; t += 10) {
          clock.advance(10);
          ctl.admit();
          ctl.admit();
        }
        ctl.sample(late);
      }
      return { limiting: ctl.limiting, entered: events.list().find((e) => e.name === 'SIP_OVERLOAD_ADAPTIVE')?.detail };
    };
    const starved = surgeWith(0.1);
    expect(starved.limiting, 'a tenth of a core: not its own work').to.equal(false);
    const busy = surgeWith(0.45);
    expect(busy.limiting, 'saturated on half a core').to.equal(true);
    expect(busy.entered).to.match(/\bcause=surge\b/);
  });

  it('does not raise a rate that is not used, and changes it at most once a period', () => {
    const clock = new FakeClock();
    const ctl = new AdaptiveAdmission({ targetMs: TARGET }, clock, silentLogger);
    ctl.start();
    // 400/s admitted in each of two looks at lateness 1200 ms: limiting at 400/s × 0.5
    enterLimiting(ctl, clock, 400, 1200);
    expect(ctl.snapshot()).to.include({ state: 'limiting', rate: 200 });
    // lateness moderate (60 ms: under target, over half of it) and demand well below the rate
    for (let p = 0; p < 5; p++) {
      for (let i = 0; i < 50; i++) {
        clock.advance(20);
        ctl.admit();
        if (i % 5 === 0) ctl.sample(60);
      }
      expect(ctl.snapshot().rate).to.equal(200);
    }
    // demand above the rate at low lateness: one additive step a period, not one per look
    const seen: number[] = [];
    for (let t = 0; t < 6000; t += 10) {
      clock.advance(10);
      for (let i = 0; i < 5; i++) ctl.admit();
      if (t % 100 === 0) ctl.sample(20);
      if (t % 500 === 0) seen.push(ctl.snapshot().rate!);
    }
    const steps = new Set(seen);
    expect(steps.size).to.be.within(3, 4);
    expect(Math.max(...seen)).to.be.greaterThan(200);
    ctl.stop();
  });

  it('holds while the lateness is already falling (a backlog draining); brakes while it grows far above the target, down to half the starting rate; never under the floor', () => {
    const clock = new FakeClock();
    const ctl = new AdaptiveAdmission({ targetMs: TARGET, minRate: 5 }, clock, silentLogger);
    ctl.start();
    enterLimiting(ctl, clock, 200, 1000); // 200/s × 0.5
    expect(ctl.snapshot().rate).to.equal(100);
    /** One look: 200/s offered, one probe of `late` ms. */
    const look = (late: number) => {
      for (let i = 0; i < perLook(200); i++) ctl.admit();
      ctl.sample(late);
      clock.advance(EVAL_MS);
    };
    // falling by more than 30% a period, or lower than at the look before: hold
    for (const late of [600, 350, 200]) {
      for (let i = 0; i < LOOKS; i++) look(late);
      expect(ctl.snapshot().rate).to.equal(100);
    }
    for (let i = 0; i < LOOKS; i++) look(199 - i);
    expect(ctl.snapshot().rate, 'lower than the look before').to.equal(100);
    // rising far above the target: a brake at most every 3 looks, down to half the rate limiting
    // started at; below that one decrease a period, down to the floor
    const rates: number[] = [];
    for (let i = 0; i < 6 * LOOKS; i++) {
      look(1500 + 10 * i);
      rates.push(ctl.snapshot().rate!);
    }
    const at = rates.map((r, i) => (r !== (i === 0 ? 100 : rates[i - 1]) ? i : -1)).filter((i) => i >= 0);
    expect(at.length, rates.join(' ')).to.be.at.least(3);
    for (let k = 1; k < at.length; k++) {
      const gap = at[k]! - at[k - 1]!;
      expect(gap, 'looks between two changes').to.be.at.least(3);
      expect(rates[at[k]!]! < rates[at[k - 1]!]!, rates.join(' ')).to.equal(true);
    }
    expect(rates.slice(0, 3 * 3).some((r) => r < 100), 'a brake before the period is over').to.equal(true);
    // under the brake floor (50), only the period's decisions
    const under = rates.findIndex((r) => r <= 50);
    const changesUnder = at.filter((i) => i > under).length;
    expect(changesUnder, rates.join(' ')).to.be.at.most(Math.ceil((rates.length - under) / LOOKS));
    expect(rates.at(-1)).to.equal(5);
    ctl.stop();
  });

  it('a target of 0 turns it off: everything admitted, no timer', () => {
    const clock = new FakeClock();
    const ctl = new AdaptiveAdmission({ targetMs: 0 }, clock, silentLogger);
    ctl.start();
    expect(clock.timerCount).to.equal(0);
    ctl.sample(10_000);
    for (let i = 0; i < 1000; i++) expect(ctl.admit()).to.equal(true);
    expect(ctl.snapshot()).to.include({ state: 'off', rate: null });
  });

  it('event-loop delay counts as lateness as well; late looks fewer than ENTER_LOOKS in a row (a pause) do not start limiting', () => {
    const clock = new FakeClock();
    let loop = 0;
    const ctl = new AdaptiveAdmission({ targetMs: TARGET }, clock, silentLogger, () => loop);
    ctl.start();
    for (let i = 0; i < 100; i++) ctl.admit();
    clock.advance(EVAL_MS);
    expect(ctl.limiting).to.equal(false);
    loop = 250;
    for (let i = 0; i < 100; i++) ctl.admit();
    clock.advance(EVAL_MS);
    expect(ctl.snapshot()).to.include({ state: 'open', latenessMs: 250 });
    loop = 0;
    clock.advance(EVAL_MS);
    loop = 250;
    for (let look = 1; look < ENTER_LOOKS; look++) {
      clock.advance(EVAL_MS);
      expect(ctl.limiting).to.equal(false);
    }
    clock.advance(EVAL_MS);
    expect(ctl.snapshot()).to.include({ state: 'limiting', loopDelayMs: 250, latenessMs: 250 });
  });
});
