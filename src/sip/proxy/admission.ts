/**
 * sip/proxy/admission: adaptive overload control (DESIGN.md §7), on by
 * default. It keeps the lateness of work (how old a message is when it is
 * handled: the age of a UDP lateness probe, and the event-loop delay) under
 * a target by admitting fewer new out-of-dialog requests from user agents,
 * a latency-targeted token bucket in the manner of Clearwater's load monitor:
 *
 *     lateness > target and the loop busy (three looks in a row, EVAL_MS apart), or a surge:
 *     the loop saturated and work later at each of three looks, on a trend past the target
 *     within a second
 *   ┌──────┐ ─────────────────────────────────────────► ┌─────────────────────────────┐
 *   │ open │    rate := carried × the cut that keeps up  │ limiting(rate, token bucket) │
 *   │      │    with the arrivals (refusals included)    │ (empty at entry: binds now)  │
 *   └──────┘ ◄───────────────────────────────────────── └─────────────────────────────┘
 *             lateness < target/2 and nothing shed          every period (2 s), at most one change:
 *             for QUIET_PERIODS periods in a row              lateness > target, the loop busy, not falling:
 *                                                               rate := min(rate, admitted) × clamp(1 - lateness/period, .5, .9)
 *                                                             lateness < 0.8 × target and requests were shed
 *                                                             (the rate is in use): rate := rate × BUSY_TARGET /
 *                                                             utilisation (at most × MAX_RISE, at least + step);
 *                                                             at full utilisation + step/4 while lateness < target/4
 *                                                           sooner: a surge over the target (cut as at entry), a
 *                                                           brake; a rise every FAST_RISE_LOOKS looks while the
 *                                                           loop idles (< FAST_RISE_UTIL) and work is on time
 *
 * Between looks, a backlog guard: a probe older than GUARD_MS (or 1.5 × the
 * target when lower) and older than its listener's last, with the loop
 * saturated at the last look, refuses every new request at once, until no
 * probe was that old for GUARD_RELEASE_MS. Tripped while open, it starts an
 * episode (cause backlog) with the bucket at the rate carried; a period in
 * which it tripped neither raises the rate nor counts as quiet. The looks act
 * on means over 200 ms and need three of them; the guard acts on the next probe.
 *
 * "Busy": the event loop's utilisation (the share of wall time it was not
 * idle in the poll) was at least BUSY_MIN; lateness while the loop idles is
 * the machine starving the process, which refusing work would not mend.
 * The increase uses the utilisation as the headroom left: at 25% busy the
 * rate can double at once, near 95% only a small step is taken, so the knee
 * (a queue empty below capacity grows without bound above it) is approached
 * from below. The pitfalls of such controllers are avoided: the rate only
 * rises while demand exceeds it (a rate nobody uses is not raised, so a later
 * burst does not find a huge allowance), it changes at most once a period
 * (the effect of one change is seen before the next; the exceptions, at most
 * every BRAKE_LOOKS looks and never under half the rate the episode started
 * at, are a cut while work is later than the target and getting later at
 * each look with the loop saturated, or more than twice as late and getting
 * later, by how fast the lateness grows: a backlog past T1 = 500 ms makes
 * every sender retransmit; and rises while the loop is mostly idle, whose
 * effect one look shows), and it does not
 * decrease while the lateness is falling (a backlog of before the last change
 * is being read: lower than at the look before, or than at the last change).
 * Only `admit()` and `shedNow()` are on the hot path: one comparison while
 * open, a token-bucket refill while limiting. Entering and leaving `limiting`
 * is logged once each (SIP_OVERLOAD_ADAPTIVE, SIP_OVERLOAD_ADAPTIVE_END).
 * May import: shared.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { logEvent, type Logger } from '../../shared/log.js';
import type { AdmissionView } from '../../shared/overload.js';

export interface AdmissionSettings {
  /** Lateness target, ms; 0 turns the controller off (everything admitted). */
  targetMs: number;
  /** Least time between two rate changes, ms (default 2000). */
  periodMs?: number;
  /** The rate never goes below this, new requests per second (default 5). */
  minRate?: number;
}

/** How often the lateness is looked at, ms (while open: how fast an overload is noticed). */
export const EVAL_MS = 200;
/** Consecutive looks with work late before limiting starts. */
export const ENTER_LOOKS = 3;
/** Quiet periods (lateness low, nothing shed) before the bucket is removed. */
const QUIET_PERIODS = 2;
/** Token-bucket depth, in seconds of the rate. */
const BURST_SECONDS = 0.25;
/** Additive step, as a share of the admitted rate measured when the overload began. */
const STEP_SHARE = 0.1;
/**
 * Event-loop utilisation (share of wall time not idle in the poll) below which lateness is not
 * this process's own work (a pause, a starved machine): limiting neither starts nor tightens on it.
 */
const BUSY_MIN = 0.5;
/** Utilisation the increase aims at while requests are refused: the rest is headroom for bursts. */
const BUSY_TARGET = 0.95;
/** Looks between two brakes (a brake's effect is seen before the next). */
const BRAKE_LOOKS = 3;
/** Largest increase in one period, as a factor. */
const MAX_RISE = 2;
/**
 * Utilisation at which the loop counts as saturated: no idle time left, so work that keeps coming
 * in faster waits in the socket's queue, where only the probe sees it, and only as it ages.
 */
const SATURATED = 0.95;
/**
 * Share of one core (process CPU time per wall time) the process must have run in a look for its
 * loop to count as saturated. The loop's utilisation counts a callback as busy for as long as it
 * takes, including while the process waited for a CPU: on a starved or stolen machine a lightly
 * loaded instance reads as saturated, and a surge found there refused calls that refusing would
 * not have made faster (seen at 200 calls/s with the load average at 3 on 2 cores). A saturated
 * instance on half a core, as in the bench's overload curve, runs 0.45–0.5.
 */
const SATURATED_CPU_MIN = 0.3;
/** Looks a surge is judged on: saturated at each, later at each, and the rate carried over them. */
const SURGE_LOOKS = 3;
/** At a surge, the backlog read so far is to be worked off within this time (ms): half of T1. */
const SURGE_DRAIN_MS = 500;
/** Largest factor on the carried rate at a surge: at least a seventh is refused at once. */
const SURGE_MAX_CUT = 0.85;
/** A surge is acted on when its trend passes the target within this time (ms): before a backlog of seconds builds. */
const SURGE_HORIZON_MS = 1000;
/**
 * The cost of a refusal as a share of an admitted call's (a 503 before decoding and its ACK:
 * about a fifth at 1500 requests/s, 0.13 near saturation; see the README's "Overload"): the rate
 * that keeps up with an arrival rate must leave room for refusing the rest (the larger figure
 * errs on the side of refusing).
 */
const REFUSAL_SHARE = 0.2;
/**
 * While limiting, the loop busier than this or work later than a tenth of the target keeps the
 * increases to one a period; below it (a backlog worked off, a cut deeper than needed) the rate
 * rises every FAST_RISE_LOOKS looks by the idle share of the loop, seen within a look.
 */
const FAST_RISE_UTIL = 0.85;
const FAST_RISE_LOOKS = 2;
/**
 * The backlog guard: a probe older than this (ms, or 1.5 × the target when lower) and older than its
 * listener's last, with the loop saturated, refuses every new request at once. Refusing new work
 * shows only after the calls already admitted have sent their remaining messages, each a pass
 * through the queue: in a traced 1500/s step with nothing admitted any more, the queue went on
 * ageing from 440 to 780 ms. Tripped from 150 ms, the peak stays under T1 = 500 ms, past which
 * every sender retransmits what waits in the queue and an overload feeds itself.
 */
const GUARD_MS = 150;
/** The guard lets go once no probe was older than its threshold for this long (ms): more than a probe interval, so that every listener's latest probe was seen. */
const GUARD_RELEASE_MS = 150;

export type AdmissionState =
  | { readonly kind: 'off' }
  | {
      readonly kind: 'open';
      /** Consecutive looks with work later than the target (one is a blip: a GC pause, a descheduled process). */
      over: number;
    }
  | {
      readonly kind: 'limiting';
      /** Admitted new requests per second. */
      rate: number;
      /** Additive increase per period, fixed for the episode. */
      readonly step: number;
      /** The admitted rate measured the last time work was late (what the proxy carried saturated). */
      ceiling: number;
      tokens: number;
      refilledAt: number;
      /** Consecutive periods with low lateness and nothing shed. */
      quiet: number;
      /** Lateness of the window that led to the last change (or hold), ms. */
      lastLateness: number;
      /** The rate a brake never goes under in this episode (half the rate limiting started at). */
      readonly brakeFloor: number;
      /** Looks since the last change (a brake waits BRAKE_LOOKS). */
      looks: number;
    };

/** What ops shows of the controller (shared/overload). */
export type AdmissionSnapshot = AdmissionView;

export class AdaptiveAdmission {
  private state: AdmissionState;
  private timer: TimerHandle | undefined;
  private readonly periodMs: number;
  private readonly minRate: number;
  // the window being measured (since the last change, or the last look while open); lateness
  // samples are per look (EVAL_MS), so that a decision sees the latest lateness
  private windowStart: number;
  private admittedInWindow = 0;
  private shedInWindow = 0;
  /** Refused by the backlog guard in the window (not the bucket's: they say nothing of its rate). */
  private guardInWindow = 0;
  private ageSum = 0;
  private ageCount = 0;
  /** Utilisation of the looks in the window, summed and counted (an increase is sized by their mean). */
  private utilSum = 0;
  private utilCount = 0;
  private lastUtil = 0;
  private lastLatenessMs = 0;
  private lastLoopDelayMs = 0;
  private admittedTotal = 0;
  private shedTotal = 0;
  private readonly recent = new RecentLooks();
  private admittedAtLook = 0;
  private shedAtLook = 0;
  private lookAt: number;
  /** The backlog guard is refusing every new request (sample()). */
  private guard = false;
  /** When a probe last came back as late as the guard's threshold, ms. */
  private lateProbeAt = -Infinity;
  private readonly guardMs: number;
  /** Times the guard tripped, and new requests it refused (counted in `shed` too), since start. */
  guardTrips = 0;
  guardShed = 0;

  constructor(
    private readonly settings: AdmissionSettings,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Mean event-loop delay (ms) since the previous call; absent: probe ages only. */
    private readonly loopDelay?: () => number,
    /**
     * Event-loop utilisation (0..1) since the previous call (perf_hooks eventLoopUtilization);
     * absent: lateness alone decides, and the rate rises by additive steps only.
     */
    private readonly utilization?: () => number,
    /** CPU time of the process per wall time (cores) since the previous call; absent: not checked (SATURATED_CPU_MIN). */
    private readonly cpuShare?: () => number,
  ) {
    this.periodMs = settings.periodMs ?? 2000;
    this.minRate = settings.minRate ?? 5;
    this.state = settings.targetMs > 0 ? openState() : { kind: 'off' };
    this.guardMs = Math.min(GUARD_MS, 1.5 * settings.targetMs);
    this.windowStart = clock.now();
    this.lookAt = this.windowStart;
  }

  get enabled(): boolean {
    return this.state.kind !== 'off';
  }

  /** True while new out-of-dialog requests are being shed (SIP_OVERLOAD_ADAPTIVE until _END). */
  get limiting(): boolean {
    return this.state.kind === 'limiting';
  }

  /** True while any new request may be refused: limiting, or the backlog guard tripped. */
  get refusing(): boolean {
    return this.guard || this.state.kind === 'limiting';
  }

  /** Starts looking at the lateness every EVAL_MS (nothing to do when off). */
  start(): void {
    if (this.state.kind === 'off' || this.timer) return;
    this.windowStart = this.clock.now();
    const tick = () => {
      this.timer = this.clock.setTimeout(tick, EVAL_MS);
      this.evaluate();
    };
    this.timer = this.clock.setTimeout(tick, EVAL_MS);
  }

  stop(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The age (ms) of a message when it was handled: a lateness probe came back (or one still
   * queued, its age so far). `rising`: older than the last probe of the same listener, so the
   * backlog is growing, not being worked off (after a pause, the probes come out younger each).
   */
  sample(ageMs: number, rising = false): void {
    this.ageSum += ageMs;
    this.ageCount++;
    if (this.state.kind === 'off') return;
    const now = this.clock.now();
    if (ageMs >= this.guardMs) this.lateProbeAt = now;
    if (!this.guard) {
      // a growing backlog near T1 on a loop saturated with its own work: refused at once, not at the next looks
      if (rising && ageMs >= this.guardMs && this.recent.saturated > 0) {
        this.guard = true;
        this.guardTrips++;
        // an overload episode begins (logged once): the bucket at what was carried; the guard
        // works off the backlog, the period's decisions find the rate
        if (this.state.kind === 'open') {
          const r = this.recent;
          const carried = r.carried();
          this.enter(now, carried, Math.max(this.minRate, carried), ageMs, 'backlog', (r.latenessAgo(0) - r.latenessAgo(1)) / EVAL_MS);
          this.newWindow(now);
        }
      }
    } else this.releaseGuardWhenQuiet(now);
  }

  /** The guard lets go once no probe was as late as its threshold for GUARD_RELEASE_MS. */
  private releaseGuardWhenQuiet(now: number): void {
    if (this.guard && now - this.lateProbeAt > GUARD_RELEASE_MS) this.guard = false;
  }

  /** One new out-of-dialog request from a user agent: true to admit it, false to shed it (503). */
  admit(): boolean {
    const s = this.state;
    if (this.guard) {
      this.guardRefused();
      return false;
    }
    if (s.kind !== 'limiting') {
      this.admittedInWindow++;
      this.admittedTotal++;
      return true;
    }
    this.refill(s);
    if (s.tokens >= 1) {
      s.tokens -= 1;
      this.admittedInWindow++;
      this.admittedTotal++;
      return true;
    }
    this.shedInWindow++;
    this.shedTotal++;
    return false;
  }

  /**
   * The bucket's answer without taking a token, for a refusal before the request is decoded
   * (sip/proxy/fast-shed): true, counted as shed, when a new request now is refused; false when
   * it would be admitted (the full path then calls admit(), which takes the token).
   */
  shedNow(): boolean {
    const s = this.state;
    if (this.guard) {
      this.guardRefused();
      return true;
    }
    if (s.kind !== 'limiting') return false;
    this.refill(s);
    if (s.tokens >= 1) return false;
    this.shedInWindow++;
    this.shedTotal++;
    return true;
  }

  /** A refusal by the backlog guard: counted as shed. */
  private guardRefused(): void {
    this.guardShed++;
    this.guardInWindow++;
    this.shedTotal++;
  }

  private refill(s: Extract<AdmissionState, { kind: 'limiting' }>): void {
    const now = this.clock.now();
    const burst = Math.max(1, s.rate * BURST_SECONDS);
    s.tokens = Math.min(burst, s.tokens + ((now - s.refilledAt) * s.rate) / 1000);
    s.refilledAt = now;
  }

  snapshot(): AdmissionSnapshot {
    const s = this.state;
    return {
      state: s.kind,
      targetMs: this.settings.targetMs,
      rate: s.kind === 'limiting' ? Math.round(s.rate * 10) / 10 : null,
      latenessMs: Math.round(this.lastLatenessMs * 10) / 10,
      loopDelayMs: Math.round(this.lastLoopDelayMs * 10) / 10,
      utilization: this.utilization ? Math.round(this.lastUtil * 100) / 100 : null,
      admitted: this.admittedTotal,
      shed: this.shedTotal,
    };
  }

  /** One look at the window (every EVAL_MS; public for tests on a fake clock). */
  evaluate(): void {
    const s = this.state;
    if (s.kind === 'off') return;
    const now = this.clock.now();
    // also here: when probes stop coming, the guard still lets go
    this.releaseGuardWhenQuiet(now);
    const loop = this.loopDelay ? this.loopDelay() : 0;
    const age = this.ageCount > 0 ? this.ageSum / this.ageCount : 0;
    this.ageSum = 0;
    this.ageCount = 0;
    const lateness = Math.max(age, loop);
    if (this.utilization) {
      this.lastUtil = this.utilization();
      this.utilSum += this.lastUtil;
      this.utilCount++;
    }
    // late, and busy with its own work (without a utilisation reading: late is enough)
    const busy = this.utilization ? this.lastUtil >= BUSY_MIN : true;
    const previous = this.lastLatenessMs;
    this.lastLatenessMs = lateness;
    this.lastLoopDelayMs = loop;
    const target = this.settings.targetMs;
    const elapsed = now - this.windowStart;
    const admittedRate = elapsed > 0 ? (this.admittedInWindow * 1000) / elapsed : 0;
    const cpu = this.cpuShare ? this.cpuShare() : 1;
    const saturated = this.utilization !== undefined && this.lastUtil >= SATURATED && cpu >= SATURATED_CPU_MIN;
    this.recent.add(lateness, saturated, this.admittedTotal - this.admittedAtLook, now - this.lookAt, this.shedTotal > this.shedAtLook);
    this.admittedAtLook = this.admittedTotal;
    this.shedAtLook = this.shedTotal;
    this.lookAt = now;

    if (s.kind === 'open') {
      this.newWindow(now);
      const surge = this.surgeCut(target, target / 2);
      if (surge !== undefined) {
        const carried = this.recent.carried();
        this.enter(now, carried, Math.max(this.minRate, carried * surge.cut), lateness, 'surge', surge.growth);
        return;
      }
      // late ENTER_LOOKS times in a row, and not draining (a burst, e.g. the requests held during
      // a switchover released at once, is worked off by itself)
      const over = lateness > target && busy && (s.over === 0 || lateness >= previous * 0.7) ? s.over + 1 : 0;
      if (over < ENTER_LOOKS) {
        s.over = over;
        return;
      }
      // what the last two looks carried, cut enough to work off the backlog within a period, and
      // at least by how fast the lateness grows (growthCut)
      const carried = this.recent.carried(2);
      const rate = Math.max(this.minRate, carried * Math.min(decrease(lateness, this.periodMs), growthCut(lateness, previous)));
      this.enter(now, carried, rate, lateness, 'late', (lateness - previous) / EVAL_MS);
      return;
    }
    // limiting: one decision a period; sooner a rise while the loop idles (below), and a cut at a
    // surge or a brake while work is more than twice as late as the target and getting later (the
    // cut was not deep enough: a backlog over T1 = 500 ms makes every sender retransmit), at most
    // every BRAKE_LOOKS looks and not under the floor
    s.looks++;
    if (
      this.utilization && this.lastUtil < FAST_RISE_UTIL && lateness < target / 10 &&
      s.looks >= FAST_RISE_LOOKS && this.shedInWindow > 0 && this.guardInWindow === 0
    ) {
      // refusing while the loop idles most of the time and work is on time: the cut was deeper
      // than needed (or the backlog that made it is gone); the utilisation of one look shows
      // the effect of a change at once, so the rate need not wait a period to rise
      s.rate = Math.max(s.rate + this.increase(s), s.rate * Math.min(MAX_RISE, BUSY_TARGET / Math.max(this.lastUtil, 0.05)));
      s.looks = 0;
      s.quiet = 0;
      s.lastLateness = lateness;
      this.newWindow(now);
      return;
    }
    if (elapsed < this.periodMs) {
      // over the target: under it, small rises are the rate hunting near the knee, which the
      // period's decisions mend; but while the bucket refused nothing for those looks the rate
      // is above the load (a new surge on top of an old rate), and it counts as while open
      const floor = this.recent.refusing() ? target : target / 2;
      const surge = s.looks >= BRAKE_LOOKS ? this.surgeCut(target, floor) : undefined;
      if (surge !== undefined && s.rate > s.brakeFloor) {
        // a surge on top of the rate (the load rose again, or the cut was too shallow): cut the
        // rate carried now as at entry, with the bucket emptied so that it binds at once
        s.rate = Math.max(s.brakeFloor, this.minRate, Math.min(s.rate, this.recent.carried()) * surge.cut);
        s.tokens = 0;
        s.looks = 0;
        this.recent.clearSaturation();
        return;
      }
      if (busy && lateness > 2 * target && lateness > previous && s.looks >= BRAKE_LOOKS && s.rate > s.brakeFloor) {
        s.rate = Math.max(s.brakeFloor, this.minRate, s.rate * growthCut(lateness, previous));
        s.looks = 0;
      }
      return;
    }
    const braked = s.looks < BRAKE_LOOKS; // a brake just now: its effect is not seen yet
    const shed = this.shedInWindow;
    const guarded = this.guardInWindow > 0;
    const util = this.utilCount > 0 ? this.utilSum / this.utilCount : undefined;
    this.newWindow(now);
    // draining: later work than the last look's is not coming in (the backlog of before the
    // last change is being read), or much less late than at the last change
    const falling = lateness < previous || lateness < s.lastLateness * 0.7;
    s.lastLateness = lateness;
    if (lateness > target) {
      s.quiet = 0;
      if (falling || !busy || braked) return;
      s.looks = 0;
      s.ceiling = admittedRate;
      s.rate = Math.max(this.minRate, Math.min(s.rate, admittedRate) * decrease(lateness, this.periodMs));
      return;
    }
    if (shed === 0 && !guarded && lateness < target / 2) {
      if (++s.quiet >= QUIET_PERIODS) {
        this.state = openState();
        logEvent(this.log, 'SIP_OVERLOAD_ADAPTIVE_END', { latenessMs: Math.round(lateness), targetMs: target });
      }
      return;
    }
    s.quiet = 0;
    // the guard tripped in this period: the queue got old at this rate, which is not raised
    if (shed === 0 || guarded || lateness >= target * 0.8) return;
    if (util === undefined) {
      s.rate += this.increase(s);
      return;
    }
    // requests are refused while work is on time: the idle share of the loop says by how much
    // more can be admitted (refusals cost too, so this approaches the knee from below); near
    // full utilisation, only the gentle step, and only while work is well on time
    if (util < BUSY_TARGET) s.rate = Math.max(s.rate + this.increase(s), s.rate * Math.min(MAX_RISE, BUSY_TARGET / Math.max(util, 0.05)));
    else if (lateness < target / 4) s.rate += this.increase(s) / 4;
  }

  /**
   * A surge: the loop saturated at SURGE_LOOKS looks in a row and work later at each, by a trend
   * that passes the target within SURGE_HORIZON_MS, and already later than `floor` (while open
   * half the target, above the noise of a shared machine; while limiting the target itself, or
   * half of it when the bucket refused nothing at those looks). A FIFO read at P a second, fed
   * at A a second, hands out messages whose age grows by g = 1 − P/A per ms: the arrivals come
   * at 1 / (1 − g) × the rate carried. The factor on the carried rate that keeps up with them, refusals included
   * (a + REFUSAL_SHARE × (arrivals − a) ≤ carried), and works off the backlog so far within
   * SURGE_DRAIN_MS; at least half; undefined when there is no surge.
   */
  private surgeCut(target: number, floor: number): { cut: number; growth: number } | undefined {
    const r = this.recent;
    const lateness = r.latenessAgo(0);
    const previous = r.latenessAgo(1);
    const before = r.latenessAgo(2);
    if (r.saturated < SURGE_LOOKS || lateness <= floor) return undefined;
    if (!(lateness > previous && previous > before)) return undefined;
    // the steeper of the last look's growth and the two looks' (a mean age per look lags a ramp)
    const growth = Math.max((lateness - previous) / EVAL_MS, (lateness - before) / (2 * EVAL_MS));
    if (lateness + growth * SURGE_HORIZON_MS <= target) return undefined;
    const arrivals = 1 / (1 - Math.min(growth, 0.9));
    const keepUp = (1 - REFUSAL_SHARE * arrivals) / (1 - REFUSAL_SHARE);
    // the backlog so far is worked off within SURGE_DRAIN_MS: read past T1, every sender retransmits
    const drain = 1 - lateness / SURGE_DRAIN_MS;
    // at most SURGE_MAX_CUT: the growth read off a few looks of mean ages lags a ramp and
    // understates the arrivals; a cut a little too deep is mended in a period
    return { cut: Math.max(0.5, Math.min(SURGE_MAX_CUT, keepUp * drain)), growth };
  }

  /** Open → limiting at `rate`, logged once (SIP_OVERLOAD_ADAPTIVE). */
  private enter(now: number, carried: number, rate: number, lateness: number, cause: 'late' | 'surge' | 'backlog', growth: number): void {
    const step = Math.max(1, carried * STEP_SHARE);
    // an empty bucket: the rate binds at once (a full one let the surge through for a further
    // BURST_SECONDS × rate / (carried − rate), most of a second, while the backlog grew)
    this.state = { kind: 'limiting', rate, step, ceiling: carried, tokens: 0, refilledAt: now, quiet: 0, lastLateness: lateness, brakeFloor: rate / 2, looks: 0 };
    logEvent(this.log, 'SIP_OVERLOAD_ADAPTIVE', {
      cause, latenessMs: Math.round(lateness), growth: Math.round(growth * 100) / 100, targetMs: this.settings.targetMs, rate: Math.round(rate),
    });
  }

  /**
   * The additive step: a quarter step just under the rate at which work was late last time (the
   * knee is sharp: a queue is empty below capacity and grows without bound above it, so it is
   * approached gently), a full step, or a tenth of the rate when larger, elsewhere (far under
   * it, to recover from a deep cut; above it, the knee has moved and is looked for again).
   */
  private increase(s: Extract<AdmissionState, { kind: 'limiting' }>): number {
    if (s.rate >= s.ceiling * 0.85 && s.rate < s.ceiling) return s.step / 4;
    return Math.max(s.step, s.rate * 0.1);
  }

  private newWindow(now: number): void {
    this.windowStart = now;
    this.utilSum = 0;
    this.utilCount = 0;
    this.admittedInWindow = 0;
    this.shedInWindow = 0;
    this.guardInWindow = 0;
  }
}

function openState(): AdmissionState {
  return { kind: 'open', over: 0 };
}

/**
 * The last SURGE_LOOKS looks, in either state: lateness, whether the loop was saturated, and
 * what was admitted over how long (the rate the loop carried while saturated).
 */
class RecentLooks {
  private readonly lateness = new Float64Array(SURGE_LOOKS);
  private readonly admitted = new Float64Array(SURGE_LOOKS);
  private readonly ms = new Float64Array(SURGE_LOOKS);
  private readonly shed = new Uint8Array(SURGE_LOOKS);
  private at = 0;
  /** Consecutive looks with the loop saturated. */
  saturated = 0;

  add(lateness: number, saturated: boolean, admitted: number, ms: number, shed: boolean): void {
    this.shed[this.at] = shed ? 1 : 0;
    this.lateness[this.at] = lateness;
    this.admitted[this.at] = admitted;
    this.ms[this.at] = ms;
    this.at = (this.at + 1) % SURGE_LOOKS;
    this.saturated = saturated ? this.saturated + 1 : 0;
  }

  /** Lateness k looks ago (0: the latest). */
  latenessAgo(k: number): number {
    return this.lateness[this.ago(k)]!;
  }

  /** The ring's index of the look k looks ago. */
  private ago(k: number): number {
    return (this.at - 1 - k + 2 * SURGE_LOOKS) % SURGE_LOOKS;
  }

  /** Admitted per second over the last `looks` looks (at most SURGE_LOOKS). */
  carried(looks = SURGE_LOOKS): number {
    let n = 0;
    let ms = 0;
    for (let k = 0; k < looks; k++) {
      const i = this.ago(k);
      n += this.admitted[i]!;
      ms += this.ms[i]!;
    }
    return ms > 0 ? (n * 1000) / ms : 0;
  }

  /** Something was refused at one of the looks kept. */
  refusing(): boolean {
    for (let i = 0; i < SURGE_LOOKS; i++) if (this.shed[i] === 1) return true;
    return false;
  }

  clearSaturation(): void {
    this.saturated = 0;
  }
}

/**
 * The cut that matches how fast the lateness grows between two looks (EVAL_MS apart): in a FIFO
 * read at P and fed at A a second, the age of what is read grows by 1 − P/A per ms, so the
 * growth g says the rate must be multiplied by P/A = 1 − g; by a tenth at least and by half at most.
 */
function growthCut(lateness: number, previous: number): number {
  const growth = Math.max(0, lateness - previous) / EVAL_MS;
  return Math.min(0.9, Math.max(0.5, 1 - growth));
}

/**
 * Multiplicative decrease of the admitted rate: enough to work off the backlog (`lateness` ms of
 * work) within one period, by a tenth at least and by half at most.
 */
function decrease(lateness: number, periodMs: number): number {
  return Math.min(0.9, Math.max(0.5, 1 - lateness / periodMs));
}
