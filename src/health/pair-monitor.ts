/**
 * health/pair-monitor: the state machine that decides which member of one HA
 * pair is active, with the reference product's oos-check / oos-force
 * semantics (DESIGN.md §4). May import: shared, zone/types, health.
 *
 * States (mode, active):
 *
 *   check(A)  OPTIONS to A; the decision falls when oos-check expires:
 *             answered → next OPTIONS to A at that moment;
 *             not answered → force.  A 503 from A → force at once (A says it
 *             is not active; waiting would change nothing).
 *   force     active = null, inService = false. OPTIONS to the member that was
 *             not active first, then alternately to each member, one every
 *             oos-force, until one answers → check(that one); the next check
 *             OPTIONS goes oos-check after that answer. Once a whole force
 *             round (each member probed once, 2 × oos-force) passed without an
 *             answer the pair is out of service (outOfService = true) until a
 *             member answers.
 *
 *   Inputs from the SIP plane: a request from the member that is not active
 *   (or from either member while in force mode) → check(that member) at once;
 *   memberFailed(active) → force at once.
 *
 * Liveness: memberHeard() notes when any message last arrived from a member
 * (by the SIP plane's source address); heardWithin() answers from it. It
 * changes no state: a busy member that answers other requests is alive,
 * which the SIP plane's per-hop timer needs to know before it reports a
 * failure. A reconfiguration that moves the members forgets these times.
 *
 * Switchover versus outage: awaitActive() waiters (requests the SIP plane
 * holds while the pair switches over) resolve when a member becomes active,
 * and are rejected when the pair goes out of service (or at their own
 * timeout); while out of service awaitActive() rejects at once, so requests
 * get 503 + Retry-After without waiting.
 *
 * Every probe carries its own context; a reply counts only while that probe is
 * the current one, so replies arriving after a mode change, a switch, a stop or
 * a reconfiguration are ignored. The probe timeout is the time until the next
 * decision (oos-check in check mode, oos-force in force mode).
 *
 * Events, once per transition: PAIR_FORCE_MODE (from, cause), PAIR_SWITCHOVER
 * (from, to, cause), PAIR_CHECK_MODE (active), PAIR_OUT_OF_SERVICE once a whole
 * force round (each member probed once) passed without an answer, and
 * PAIR_IN_SERVICE when a member answers after that. An ordinary switchover
 * therefore logs FORCE_MODE, SWITCHOVER, CHECK_MODE and raises no alarm.
 */
import type { Clock, TimerHandle } from '../shared/clock.js';
import { SrvError } from '../shared/errors.js';
import type { PairMode, PairState, ProbeResult, ProbeTarget, Prober } from '../shared/health.js';
import { logEvent, type Logger } from '../shared/log.js';
import type { HaPair } from '../zone/types.js';
import { describeResult, isAnswer } from './answers.js';

export interface PairMonitorOptions {
  pair: HaPair;
  prober: Prober;
  clock: Clock;
  oosCheckMs: number;
  oosForceMs: number;
  log: Logger;
  /** Called after every change of the pair's state (mode, active, inService). */
  onChange?: (pair: string) => void;
}

interface ProbeContext {
  readonly gen: number;
  readonly index: 0 | 1;
  answered: boolean;
}

interface Waiter {
  resolve: (target: string) => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
}

/** The pair has no active member within the time asked for (or its monitor stopped). */
export class PairUnavailableError extends SrvError {
  constructor(message: string) {
    super('SRV_ERR_PAIR_UNAVAILABLE', message);
    this.name = 'PairUnavailableError';
  }
}

export class PairMonitor {
  private pair: HaPair;
  private targets: [ProbeTarget, ProbeTarget];
  private readonly prober: Prober;
  private readonly clock: Clock;
  private readonly oosCheckMs: number;
  private readonly oosForceMs: number;
  private readonly log: Logger;
  private readonly onChange: (pair: string) => void;

  private mode: PairMode = 'check';
  /** Index of the active member (check mode), or -1 (force mode). */
  private activeIndex = 0;
  /** The member that was active last (the "from" of the next switchover). */
  private lastActiveIndex = 0;
  private gen = 0;
  private current: ProbeContext | null = null;
  private timer: TimerHandle | undefined;
  private forceNext: 0 | 1 = 1;
  private forceUnanswered = 0;
  /** A whole force round passed without an answer (PAIR_OUT_OF_SERVICE logged, outOfService in the state). */
  private outOfService = false;
  private running = false;
  private waiters: Waiter[] = [];
  private snapshot: PairState;
  private switchoverCount = 0;
  /** Clock time a message last arrived from each member (-Infinity: never). */
  private readonly heardAt: [number, number] = [-Infinity, -Infinity];

  constructor(opts: PairMonitorOptions) {
    this.pair = opts.pair;
    this.targets = probeTargets(opts.pair);
    this.prober = opts.prober;
    this.clock = opts.clock;
    this.oosCheckMs = opts.oosCheckMs;
    this.oosForceMs = opts.oosForceMs;
    this.log = opts.log;
    this.onChange = opts.onChange ?? (() => {});
    this.snapshot = this.buildSnapshot();
  }

  /** The current state; a new object after each change, safe to keep. */
  state(): PairState {
    return this.snapshot;
  }

  /** Number of switchovers (active member changed) since start. */
  get switchovers(): number {
    return this.switchoverCount;
  }

  /** Start in check mode with the primary believed active, probing it at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.mode = 'check';
    this.activeIndex = 0;
    this.lastActiveIndex = 0;
    this.outOfService = false;
    this.changed();
    this.sendCheck();
  }

  /** Cancel every timer, ignore every probe in flight, reject every waiter. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.abandon();
    this.rejectWaiters(`pair ${this.pair.name}: monitor stopped`);
  }

  /**
   * Take a new definition of the pair (zone reload). Same members, addresses
   * and ports: nothing changes. Otherwise probes in flight are ignored and the
   * cycle restarts: check mode on the active member if it is still a member,
   * else from the primary.
   */
  reconfigure(pair: HaPair): void {
    const same = sameMembers(this.pair, pair);
    const activeTarget = this.activeIndex >= 0 ? this.pair.members[this.activeIndex]!.target : null;
    this.pair = pair;
    this.targets = probeTargets(pair);
    if (!same) this.heardAt[0] = this.heardAt[1] = -Infinity;
    if (same || !this.running) return;
    this.abandon();
    const keep = activeTarget === null ? -1 : pair.members.findIndex((m) => m.target === activeTarget);
    if (this.mode === 'force') {
      this.forceNext = 0;
      this.sendForce();
      return;
    }
    this.mode = 'check';
    this.activeIndex = keep >= 0 ? keep : 0;
    this.lastActiveIndex = this.activeIndex;
    this.changed();
    this.sendCheck();
  }

  /** A request arrived from `target`: proof that it is active (DESIGN.md §4). */
  requestFromMember(target: string): void {
    if (!this.running) return;
    const i = this.indexOf(target);
    if (i < 0) return;
    if (this.mode === 'check' && this.activeIndex === i) return;
    this.becomeActive(i, this.mode === 'force' ? `request from ${target} while in force mode` : `request from ${target}, the member that was not active`);
  }

  /** A request forwarded to `target` drew no response or a transport error. */
  memberFailed(target: string, cause: string): void {
    if (!this.running) return;
    if (this.mode !== 'check' || this.activeIndex < 0) return;
    if (this.pair.members[this.activeIndex]!.target !== target) return;
    this.enterForce(cause);
  }

  /** A message arrived from `target` (liveness only: no state changes). */
  memberHeard(target: string): void {
    const i = this.indexOf(target);
    if (i >= 0) this.heardAt[i] = this.clock.now();
  }

  /** True when a message from `target` arrived within the last `ms` milliseconds. */
  heardWithin(target: string, ms: number): boolean {
    const i = this.indexOf(target);
    return i >= 0 && this.clock.now() - this.heardAt[i] <= ms;
  }

  /**
   * Resolve with the active member's target: at once in check mode, else when a
   * member answers (or sends a request). Rejects with PairUnavailableError after
   * `timeoutMs`, when the pair goes out of service (at once if it is), or when
   * the monitor stops.
   */
  awaitActive(timeoutMs: number): Promise<string> {
    if (!this.running) {
      return Promise.reject(new PairUnavailableError(`pair ${this.pair.name}: not monitored`));
    }
    if (this.mode === 'check' && this.activeIndex >= 0) {
      return Promise.resolve(this.pair.members[this.activeIndex]!.target);
    }
    if (this.outOfService) {
      return Promise.reject(new PairUnavailableError(`pair ${this.pair.name}: out of service`));
    }
    return new Promise<string>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new PairUnavailableError(`pair ${this.pair.name}: no member answered within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  // --- check mode ---------------------------------------------------------

  private sendCheck(): void {
    const ctx: ProbeContext = { gen: this.gen, index: this.activeIndex as 0 | 1, answered: false };
    this.current = ctx;
    this.timer = this.clock.setTimeout(() => this.checkDeadline(ctx), this.oosCheckMs);
    this.send(ctx, this.oosCheckMs);
  }

  private checkResult(ctx: ProbeContext, r: ProbeResult): void {
    if (isAnswer(r)) {
      ctx.answered = true;
    } else if (r.status === 503) {
      this.enterForce(`503 from ${this.pair.members[ctx.index]!.target} (not active)`);
    }
    // No answer yet (timeout, transport error): the oos-check deadline decides.
  }

  private checkDeadline(ctx: ProbeContext): void {
    if (ctx !== this.current) return;
    this.timer = undefined;
    if (ctx.answered) {
      this.sendCheck();
    } else {
      const t = this.pair.members[ctx.index]!.target;
      this.enterForce(`no answer from ${t} within oos-check (${this.oosCheckMs} ms)`);
    }
  }

  // --- force mode ---------------------------------------------------------

  private enterForce(cause: string): void {
    const from = this.activeIndex;
    this.abandon();
    this.mode = 'force';
    this.activeIndex = -1;
    // The member that just failed is probed last: the other one is the likely new active.
    this.forceNext = from === 0 ? 1 : 0;
    this.forceUnanswered = 0;
    logEvent(this.log, 'PAIR_FORCE_MODE', {
      pair: this.pair.name,
      from: from >= 0 ? this.pair.members[from]!.target : null,
      cause,
    });
    this.changed();
    this.sendForce();
  }

  private sendForce(): void {
    const ctx: ProbeContext = { gen: this.gen, index: this.forceNext, answered: false };
    this.forceNext = this.forceNext === 0 ? 1 : 0;
    this.current = ctx;
    this.timer = this.clock.setTimeout(() => this.forceDeadline(ctx), this.oosForceMs);
    this.send(ctx, this.oosForceMs);
  }

  private forceResult(ctx: ProbeContext, r: ProbeResult): void {
    if (isAnswer(r)) {
      const t = this.pair.members[ctx.index]!.target;
      this.becomeActive(ctx.index, `${t} answered OPTIONS (${r.status}) in force mode`);
    }
    // 503 or no answer: the next member is probed when oos-force expires.
  }

  private forceDeadline(ctx: ProbeContext): void {
    if (ctx !== this.current) return;
    this.timer = undefined;
    this.forceUnanswered++;
    if (this.forceUnanswered >= 2 && !this.outOfService) {
      this.outOfService = true;
      const cause = `neither ${this.pair.members[0].target} nor ${this.pair.members[1].target} answered OPTIONS`;
      logEvent(this.log, 'PAIR_OUT_OF_SERVICE', { pair: this.pair.name, cause });
      this.changed();
      this.rejectWaiters(`pair ${this.pair.name} is out of service: ${cause}`);
    }
    this.sendForce();
  }

  // --- shared -------------------------------------------------------------

  private becomeActive(index: number, cause: string): void {
    const wasForce = this.mode === 'force';
    this.abandon();
    const from = this.lastActiveIndex;
    const to = this.pair.members[index]!.target;
    this.mode = 'check';
    this.activeIndex = index;
    this.lastActiveIndex = index;
    if (from !== index) {
      this.switchoverCount++;
      logEvent(this.log, 'PAIR_SWITCHOVER', { pair: this.pair.name, from: this.pair.members[from]!.target, to, cause });
    }
    if (this.outOfService) {
      this.outOfService = false;
      logEvent(this.log, 'PAIR_IN_SERVICE', { pair: this.pair.name, active: to, cause });
    }
    if (wasForce) logEvent(this.log, 'PAIR_CHECK_MODE', { pair: this.pair.name, active: to, cause });
    this.changed();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      this.clock.clearTimeout(w.timer);
      w.resolve(to);
    }
    // The answer (or request) is this cycle's proof of life: the next OPTIONS
    // goes when oos-check expires, counted from now.
    const ctx: ProbeContext = { gen: this.gen, index: index as 0 | 1, answered: true };
    this.current = ctx;
    this.timer = this.clock.setTimeout(() => this.checkDeadline(ctx), this.oosCheckMs);
  }

  private send(ctx: ProbeContext, timeoutMs: number): void {
    const target = this.targets[ctx.index];
    let p: Promise<ProbeResult>;
    try {
      p = this.prober.probe(target, timeoutMs);
    } catch (err) {
      p = Promise.resolve({ status: null, rttMs: 0, error: String(err) });
    }
    p.then(
      (r) => this.result(ctx, r),
      (err: unknown) => this.result(ctx, { status: null, rttMs: 0, error: err instanceof Error ? err.message : String(err) }),
    );
  }

  private result(ctx: ProbeContext, r: ProbeResult): void {
    if (ctx !== this.current || ctx.gen !== this.gen || !this.running) return;
    const target = this.pair.members[ctx.index]!.target;
    if (this.log.isDebugEnabled()) {
      this.log.debug('pair probe', { pair: this.pair.name, target, mode: this.mode, result: describeResult(r), rttMs: r.rttMs });
    }
    if (this.mode === 'check') this.checkResult(ctx, r);
    else this.forceResult(ctx, r);
  }

  /** Forget the probe in flight and its timer (its reply will be ignored). */
  private abandon(): void {
    this.gen++;
    this.current = null;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private rejectWaiters(message: string): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      this.clock.clearTimeout(w.timer);
      w.reject(new PairUnavailableError(message));
    }
  }

  private indexOf(target: string): number {
    const m = this.pair.members;
    return m[0].target === target ? 0 : m[1].target === target ? 1 : -1;
  }

  private changed(): void {
    this.snapshot = this.buildSnapshot();
    this.onChange(this.pair.name);
  }

  private buildSnapshot(): PairState {
    const active = this.mode === 'check' && this.activeIndex >= 0 ? this.pair.members[this.activeIndex]!.target : null;
    return Object.freeze({ name: this.pair.name, mode: this.mode, active, inService: active !== null, outOfService: active === null && this.outOfService });
  }
}

function probeTargets(pair: HaPair): [ProbeTarget, ProbeTarget] {
  const t = (i: 0 | 1): ProbeTarget => {
    const m = pair.members[i];
    return { address: m.address, port: m.port, transport: m.transport, host: m.target };
  };
  return [t(0), t(1)];
}

function sameMembers(a: HaPair, b: HaPair): boolean {
  for (const i of [0, 1] as const) {
    const x = a.members[i];
    const y = b.members[i];
    if (x.target !== y.target || x.address !== y.address || x.port !== y.port || x.transport !== y.transport) return false;
  }
  return true;
}
