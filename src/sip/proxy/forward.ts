/**
 * sip/proxy/forward: the response context of one forwarded request (RFC 3261
 * §16.6-16.8, one branch at a time) as an explicit state machine: the client
 * transaction toward the target, the per-hop timer of fast failover
 * (DESIGN.md §4), retries on the member that becomes active while the
 * upstream transaction lives, CANCEL toward the pending branch, timer C, and
 * the final answer upstream; for a direct destination (RFC 3263: the SRV
 * targets of a name, in the order of one weighted choice) the next target on
 * a transport error, the per-hop timeout or a 503 (RFC 3263 §4.3), failed
 * targets remembered (targets.ts). transition() is the one place that decides: it
 * takes the state and an event and returns the next state and the effects;
 * Forwarding runs the effects, owns the per-hop timer and the registration
 * of the request at its member, and feeds events back in.
 *
 *   idle ──start──► opening (active member, or the first direct target)
 *     │ └─start──► awaiting-active (pair switching over, no active member yet)
 *     └──start──► done: 503 + Retry-After (pair out of service / not monitored)
 *   opening ──sent──► sending (to a member: per-hop timer armed)
 *     └──table full──► done: 503 + Retry-After  (transport error at once: as in sending)
 *   sending ──1xx──► sending (101-199 upstream; a response stops the hop timer)
 *     │ ──final──► done: the answer upstream
 *     │ ──503 from a member──► awaiting-active (the 503 kept) | done (attempts used up)
 *     │ ──hop timer late (> 20 ms, once), or member heard within hop/2──► sending (re-armed)
 *     │ ──hop timer, member silent──► awaiting-active (transaction kept, member
 *     │                               reported failed) | done (attempts used up)
 *     │ ──failure, nothing received from a member──► awaiting-active | done
 *     │ ──direct target: failure with nothing received, hop timer, 503, and
 *     │   another target left──► opening (the next target; this one remembered failed)
 *     │ ──flow (down): transport error──► done: 430 Flow Failed
 *     │ ──flow (relay): failure, or hop timer with nothing received──► done: 430
 *     │ ──other failure──► done: 503 (transport) / 408
 *     │ ──timer C──► done: 408, CANCEL downstream
 *     │ ──member-lost (pair switched away, nothing above 100 received)──►
 *     │                 opening (new active member), CANCEL on the old INVITE branch
 *     └──cancel──► cancelling (CANCEL now if a provisional came, else at the first one)
 *   cancelling ──1xx──► cancelling (a waiting CANCEL goes now); hop timer as in sending
 *     │ ──final──► done: the answer upstream (487 as a rule)
 *     └──503 / member silent / failure──► done: 487 (timer C: 408)
 *   awaiting-active ──active = another member──► opening (it)
 *     │ ──active = the silent member, its transaction pending──► sending (same branch)
 *     │ ──active = the member that said 503, or no active member (failoverWaitMs,
 *     │   deadline, out of service)──► done: the kept 503, else 503 + Retry-After
 *     │ ──response on the kept transaction──► as in sending (the request stays there)
 *     │ ──failure of the kept transaction──► awaiting-active (nothing kept)
 *     └──cancel──► done: 487
 *   any ──server transaction ended──► done.  done: finals on its transaction (2xx
 *   retransmissions) still go upstream, a CANCEL that waited goes at the first
 *   provisional; everything else is ignored.
 *
 * Each per-hop timer arming and each wait for the active member is its own
 * object (a Hop, a Wait): an event carries the one it
 * belongs to and counts only while that one is current, so late timers and
 * late answers from the health plane are ignored.
 *
 * Fast failover, precisely:
 * - Per-hop timer: no response within hopTimeoutMs. A timer that fires late
 *   (this process was stalled) first lets pending input be read, once. A
 *   member heard from within the last half of that period (the health plane
 *   keeps when each member was last heard: PairFeedback.heardWithin) is alive
 *   (busy, or one datagram was lost): the timer is re-armed and the
 *   transaction keeps retransmitting. Otherwise the member is reported failed
 *   (force mode) and the request waits for the pair's active member. The
 *   transaction to the silent member is kept during the wait: a late answer
 *   from it still counts, and when the same member turns out to be active
 *   again the request is not sent anew (a second branch would reach the
 *   server as a new transaction: a BYE already processed would draw 481).
 * - A pair switching over (force mode, no active member yet) is waited for,
 *   bounded by failoverWaitMs, the upstream deadline, and the pair going out
 *   of service; a pair out of service gets 503 + Retry-After.
 * - A request still unanswered (nothing, or only 100 Trying) at a member the
 *   pair has switched away from is re-sent to the new active member at once
 *   (an INVITE is CANCELled on the old one): the old member will not answer
 *   it, and its per-hop timer need not be waited for.
 * May import: shared, zone/types, sip/codec, sip/transport, sip/transaction,
 * sip/proxy.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { HealthView, PairFeedback, PairState } from '../../shared/health.js';
import type { HaPair, PairMember } from '../../zone/types.js';
import type { SipHeaders, SipRequest, SipResponse, SipVia } from '../codec/codec.js';
import { newBranch } from '../codec/ids.js';
import { makeResponse, ownVia } from '../codec/messages.js';
import type { ClientFailure, ClientTransaction, ClientTransactionUser } from '../transaction/client.js';
import type { TransactionLayer } from '../transaction/layer.js';
import type { ServerTransaction } from '../transaction/server.js';
import type { ListenAddress, Remote } from '../transport/types.js';
import { findMember } from './site-index.js';
import type { FailedTargets } from './targets.js';
import { hasOcParams, offerOc, type MemberOverload } from './member-oc.js';

/** A pair (its active member), or direct destinations tried in order (one, or the targets of an RFC 3263 resolution). */
export type ForwardTarget =
  | { kind: 'pair'; pair: HaPair }
  /**
   * `flow`: the destination is a user agent's flow held here ('down') or the peer instance that holds
   * it ('relay'): a transport error, and for a relay also silence for a hop period, is 430 Flow Failed
   * (RFC 5626 §5.3), so that the sender tries the user agent's other bindings.
   */
  | { kind: 'direct'; dests: readonly Remote[]; flow?: 'down' | 'relay' };

function flowOf(inp: ForwardInputs): 'down' | 'relay' | undefined {
  return inp.target.kind === 'direct' ? inp.target.flow : undefined;
}

export interface ForwardSettings {
  /** Per-hop timeout before failover (ms). */
  readonly hopTimeoutMs: number;
  /** Longest wait for a pair to get an active member during a failover (ms). */
  readonly failoverWaitMs: number;
  /** Most failovers for one request. */
  readonly maxFailoverAttempts: number;
  /** Retry-After (seconds) on 503s generated here. */
  readonly retryAfterSeconds: number;
}

/** The proxy's plain-number counters that forwarding moves. */
export interface ForwardCounters {
  /** Responses sent upstream (generated here or forwarded), by status code. */
  responsesByCode: Record<string, number>;
  /** Requests forwarded to each pair member (by target FQDN), retries included. */
  forwardedByMember: Record<string, number>;
  failovers: number;
}

/** Requests pending at each pair member (by target), so that a switchover can move them (Forwarding.memberLost). */
export class PendingByMember {
  private readonly at = new Map<string, Set<Forwarding>>();

  add(member: PairMember, f: Forwarding): void {
    let set = this.at.get(member.target);
    if (!set) this.at.set(member.target, (set = new Set()));
    set.add(f);
  }

  remove(member: PairMember, f: Forwarding): void {
    this.at.get(member.target)?.delete(f);
  }

  /** The requests pending at `member` now (a copy: moving one removes it). */
  pendingAt(member: PairMember): Forwarding[] {
    const set = this.at.get(member.target);
    return set && set.size > 0 ? [...set] : [];
  }
}

/** What every forwarding context of one proxy core shares. */
export interface ForwardEnv {
  readonly layer: TransactionLayer;
  readonly clock: Clock;
  readonly health: HealthView;
  readonly feedback: PairFeedback;
  readonly transport: { localFor(address: string): ListenAddress };
  readonly settings: ForwardSettings;
  readonly counters: ForwardCounters;
  readonly pending: PendingByMember;
  /** Direct targets that failed lately (tried last), counted for /metrics. */
  readonly targets: FailedTargets;
  /** Called when a request is answered 430 here (its flow, or the instance holding it, failed). */
  readonly flowFailed?: () => void;
  /** RFC 7339 overload control toward the pair members: our Via offers it, their responses report (member-oc.ts). */
  readonly memberOc?: MemberOverload;
  /** Called on every transition (tests, debugging); absent: nothing is built. */
  readonly observe?: (from: ForwardState, event: ForwardEvent, to: ForwardState, effects: readonly ForwardEffect[]) => void;
}

// ---- the machine ----

/** One arming of the per-hop timer. */
export interface Hop {
  readonly ms: number;
  /** Clock time it falls due. */
  readonly due: number;
  /** Already put off once because it fired late. */
  readonly putOff: boolean;
}

/** One wait for the pair's active member (its answer counts only while it is the current one). */
export interface Wait {
  readonly waitMs: number;
}

export type ForwardState =
  | { readonly kind: 'idle' }
  /** The branch is being sent (a transport error may come back at once). */
  | { readonly kind: 'opening'; readonly member: PairMember | undefined; readonly attempts: number }
  | {
      readonly kind: 'sending';
      readonly member: PairMember | undefined;
      readonly ct: ClientTransaction;
      /** The per-hop timer (pair members only, until a response arrives). */
      readonly hop: Hop | undefined;
      readonly attempts: number;
    }
  | {
      readonly kind: 'cancelling';
      readonly member: PairMember | undefined;
      readonly ct: ClientTransaction;
      readonly hop: Hop | undefined;
      /** False while the CANCEL waits for the first provisional response. */
      readonly cancelSent: boolean;
    }
  | {
      readonly kind: 'awaiting-active';
      readonly wait: Wait;
      /** The member failed over from (undefined: the pair was switching over at start). */
      readonly failed: PairMember | undefined;
      /** The transaction to the silent member, kept for its late answer. */
      readonly kept: ClientTransaction | undefined;
      readonly attempts: number;
      /** The 503 that started the wait: what goes upstream if the wait fails. */
      readonly last503: SipResponse | undefined;
    }
  | {
      readonly kind: 'done';
      /** Still takes 2xx retransmissions to pass upstream. */
      readonly ct: ClientTransaction | undefined;
      readonly cancelPending: boolean;
    };

type AwaitingActive = Extract<ForwardState, { kind: 'awaiting-active' }>;
type Live = Extract<ForwardState, { kind: 'sending' | 'cancelling' }>;

export type ForwardEvent =
  | { readonly kind: 'start'; readonly pair: PairState | undefined }
  /** The branch left: its transaction, or undefined when the transaction table is full. */
  | { readonly kind: 'sent'; readonly ct: ClientTransaction | undefined }
  | { readonly kind: 'response'; readonly res: SipResponse; readonly ct: ClientTransaction }
  | { readonly kind: 'failure'; readonly cause: ClientFailure; readonly ct: ClientTransaction; readonly detail?: string }
  | { readonly kind: 'hop-timeout'; readonly hop: Hop }
  | { readonly kind: 'active'; readonly wait: Wait; readonly target: string }
  | { readonly kind: 'no-active'; readonly wait: Wait }
  | { readonly kind: 'member-lost'; readonly active: PairMember }
  | { readonly kind: 'cancel' }
  | { readonly kind: 'server-end' };

export type ForwardEffect =
  /** Send the request on a new branch to `member` (undefined: direct target number `at`); then a 'sent' event. */
  | { readonly do: 'send'; readonly member: PairMember | undefined; readonly at: number }
  | { readonly do: 'cancel-branch'; readonly ct: ClientTransaction }
  /** Stop retransmitting on this transaction and hear nothing more from it. */
  | { readonly do: 'abandon'; readonly ct: ClientTransaction }
  | { readonly do: 'upstream'; readonly res: SipResponse }
  | { readonly do: 'reply'; readonly status: number; readonly retryAfter: boolean }
  | { readonly do: 'count-failover' }
  | { readonly do: 'report-failed'; readonly member: PairMember; readonly cause: string }
  /** Ask the health plane for the pair's active member; then an 'active' or 'no-active' event. */
  | { readonly do: 'await-active'; readonly wait: Wait }
  | { readonly do: 'heard'; readonly member: PairMember }
  /** Direct target number `at` failed (remembered and counted) / answered (forgotten). */
  | { readonly do: 'target-failed'; readonly at: number }
  | { readonly do: 'target-answered'; readonly at: number };

/** What transition() reads besides the state and the event. */
interface ForwardInputs {
  readonly target: ForwardTarget;
  readonly settings: ForwardSettings;
  /** Clock time the upstream client gives up (its timer F / B): no wait outlasts it. */
  readonly deadline: number;
  now(): number;
  /** A message from `member` arrived within the last `ms` milliseconds. */
  heardWithin(member: PairMember, ms: number): boolean;
}

interface Step {
  readonly next: ForwardState;
  readonly effects: readonly ForwardEffect[];
}

/** A per-hop timer firing this much after it fell due was held up by this process, not by the member. */
const HOP_LATE_MS = 20;

const IDLE: ForwardState = { kind: 'idle' };
const NONE: readonly ForwardEffect[] = [];

function pending(ct: ClientTransaction): boolean {
  return ct.state === 'calling' || ct.state === 'trying' || ct.state === 'proceeding';
}

const stay = (s: ForwardState): Step => ({ next: s, effects: NONE });

/** The transaction a state listens to (responses and failures of others are ignored). */
function currentCt(s: ForwardState): ClientTransaction | undefined {
  switch (s.kind) {
    case 'sending':
    case 'cancelling':
    case 'done':
      return s.ct;
    case 'awaiting-active':
      return s.kept;
    default:
      return undefined;
  }
}

/** The member the request is registered as pending at (for memberLost). */
function trackedMember(s: ForwardState): PairMember | undefined {
  if (s.kind === 'sending' || s.kind === 'cancelling') return s.member;
  if (s.kind === 'awaiting-active' && s.kept) return s.failed;
  return undefined;
}

function hopOf(s: ForwardState): Hop | undefined {
  return s.kind === 'sending' || s.kind === 'cancelling' ? s.hop : undefined;
}

function arm(inp: ForwardInputs, ms = inp.settings.hopTimeoutMs, putOff = false): Hop {
  return { ms, due: inp.now() + ms, putOff };
}

function finish(ct: ClientTransaction | undefined, status: number, retryAfter: boolean, effects: ForwardEffect[] = [], cancelPending = false): Step {
  effects.push({ do: 'reply', status, retryAfter });
  return { next: { kind: 'done', ct, cancelPending }, effects };
}

/** Sends to `member`, or (direct) to destination number `attempts`. */
function open(member: PairMember | undefined, attempts: number, effects: ForwardEffect[] = []): Step {
  effects.push({ do: 'send', member, at: attempts });
  return { next: { kind: 'opening', member, attempts }, effects };
}

function wait(inp: ForwardInputs, failed: PairMember | undefined, kept: ClientTransaction | undefined, attempts: number, last503: SipResponse | undefined, effects: ForwardEffect[]): Step {
  const waitMs = Math.max(0, Math.min(inp.settings.failoverWaitMs, inp.deadline - inp.now()));
  const w: Wait = { waitMs };
  effects.push({ do: 'await-active', wait: w });
  const next: AwaitingActive = { kind: 'awaiting-active', wait: w, failed, kept, attempts, last503 };
  return { next, effects };
}

/** No active member to retry on: the kept 503 goes upstream, else 503 + Retry-After. */
function giveUp(kept: ClientTransaction | undefined, last503: SipResponse | undefined, effects: ForwardEffect[] = []): Step {
  if (kept && pending(kept)) effects.push({ do: 'abandon', ct: kept });
  if (last503) {
    effects.push({ do: 'upstream', res: last503 });
    return { next: { kind: 'done', ct: undefined, cancelPending: false }, effects };
  }
  return finish(undefined, 503, true, effects);
}

/**
 * The member failed (silent, 503, transport error): report it and wait for
 * the pair's active member. `keepCt`: the transaction toward the silent member
 * stays alive meanwhile. A cancelled request ends with 487 instead.
 */
function failover(inp: ForwardInputs, s: { member: PairMember; ct: ClientTransaction | undefined; attempts: number; cancelled: boolean },
  cause: string, keepCt: boolean, last503?: SipResponse): Step {
  const effects: ForwardEffect[] = [];
  const dropCt = !keepCt || s.cancelled;
  if (dropCt && s.ct && pending(s.ct)) effects.push({ do: 'abandon', ct: s.ct });
  if (s.cancelled) return finish(undefined, 487, false, effects);
  const attempts = s.attempts + 1;
  effects.push({ do: 'count-failover' }, { do: 'report-failed', member: s.member, cause });
  const kept = dropCt ? undefined : s.ct;
  if (attempts > inp.settings.maxFailoverAttempts) return giveUp(kept, last503, effects);
  return wait(inp, s.member, kept, attempts, last503, effects);
}

/** A direct destination after the one tried in attempt `attempts`. */
function hasNextTarget(inp: ForwardInputs, attempts: number): boolean {
  return inp.target.kind === 'direct' && attempts + 1 < inp.target.dests.length;
}

/** Direct target `at` failed: the next one (RFC 3263 §4.3), its transaction dropped. */
function nextTarget(ct: ClientTransaction, at: number): Step {
  const effects: ForwardEffect[] = [];
  if (pending(ct)) effects.push({ do: 'abandon', ct });
  effects.push({ do: 'target-failed', at }, { do: 'count-failover' });
  return open(undefined, at + 1, effects);
}

/** The one decision: the next state and the effects for `ev` in state `s`. */
function transition(s: ForwardState, ev: ForwardEvent, inp: ForwardInputs): Step {
  switch (ev.kind) {
    case 'start':
      return s.kind === 'idle' ? onStart(ev.pair, inp) : stay(s);
    case 'sent':
      if (s.kind !== 'opening') return stay(s);
      if (!ev.ct) return finish(undefined, 503, true);
      if (ev.ct.state === 'terminated') return stay(s); // it failed at once, and said so
      return { next: { kind: 'sending', member: s.member, ct: ev.ct, hop: s.member || hasNextTarget(inp, s.attempts) || flowOf(inp) === 'relay' ? arm(inp) : undefined, attempts: s.attempts }, effects: NONE };
    case 'response':
      return onResponse(s, ev.res, ev.ct, inp);
    case 'failure':
      return onFailure(s, ev.cause, ev.ct, ev.detail, inp);
    case 'hop-timeout':
      return onHopTimeout(s, ev.hop, inp);
    case 'active':
      return s.kind === 'awaiting-active' && s.wait === ev.wait ? onActive(s, ev.target, inp) : stay(s);
    case 'no-active':
      return s.kind === 'awaiting-active' && s.wait === ev.wait ? giveUp(s.kept, s.last503) : stay(s);
    case 'member-lost': {
      if (s.kind !== 'sending' || !s.member || s.member === ev.active) return stay(s);
      const ct = s.ct;
      if (!pending(ct) || ct.lastStatus > 100) return stay(s);
      const effects: ForwardEffect[] = [];
      if (ct.responded && ct.isInvite) effects.push({ do: 'cancel-branch', ct });
      effects.push({ do: 'abandon', ct }, { do: 'count-failover' });
      return open(ev.active, s.attempts, effects);
    }
    case 'cancel':
      return onCancel(s);
    case 'server-end': {
      const ct = currentCt(s);
      const effects: ForwardEffect[] = ct && (ct.state === 'calling' || ct.state === 'trying') ? [{ do: 'abandon', ct }] : [];
      if (s.kind === 'done') return { next: s, effects };
      return { next: { kind: 'done', ct, cancelPending: s.kind === 'cancelling' && !s.cancelSent }, effects };
    }
  }
}

function onStart(state: PairState | undefined, inp: ForwardInputs): Step {
  const target = inp.target;
  if (target.kind === 'direct') return open(undefined, 0);
  const member = state && state.inService && state.active ? findMember(target.pair, state.active) : undefined;
  if (member) return open(member, 0);
  if (!state || state.outOfService) return finish(undefined, 503, true);
  return wait(inp, undefined, undefined, 0, undefined, []);
}

function onResponse(s: ForwardState, res: SipResponse, ct: ClientTransaction, inp: ForwardInputs): Step {
  if (ct !== currentCt(s)) return stay(s);
  const status = res.status;
  if (s.kind === 'done') {
    if (status >= 200) return { next: s, effects: [{ do: 'upstream', res }] };
    if (s.cancelPending) return { next: { ...s, cancelPending: false }, effects: [{ do: 'cancel-branch', ct }] };
    return stay(s);
  }
  // A response stops the hop timer; the member failed over from that answers after all keeps the request.
  let live: Live;
  if (s.kind === 'awaiting-active') live = { kind: 'sending', member: s.failed, ct, hop: undefined, attempts: s.attempts };
  else if (s.kind === 'sending' || s.kind === 'cancelling') live = { ...s, hop: undefined };
  else return stay(s);
  const effects: ForwardEffect[] = [];
  if (live.member && inp.target.kind === 'pair') effects.push({ do: 'heard', member: live.member });
  if (inp.target.kind === 'direct' && live.kind === 'sending') {
    if (status === 503 && hasNextTarget(inp, live.attempts)) return nextTarget(ct, live.attempts);
    effects.push({ do: 'target-answered', at: live.attempts });
  }
  if (status < 200) {
    if (live.kind === 'cancelling' && !live.cancelSent) {
      live = { ...live, cancelSent: true };
      effects.push({ do: 'cancel-branch', ct });
    }
    if (status !== 100) effects.push({ do: 'upstream', res }); // 100 is hop-by-hop
    return { next: live, effects };
  }
  if (status === 503 && inp.target.kind === 'pair' && live.member) {
    // a standby says "not active": fail over
    const cancelled = live.kind === 'cancelling';
    return prepend(effects, failover(inp, { member: live.member, ct, attempts: live.kind === 'sending' ? live.attempts : 0, cancelled }, '503 from member', false, res));
  }
  effects.push({ do: 'upstream', res });
  return { next: { kind: 'done', ct, cancelPending: live.kind === 'cancelling' && !live.cancelSent }, effects };
}

function onFailure(s: ForwardState, cause: ClientFailure, ct: ClientTransaction, detail: string | undefined, inp: ForwardInputs): Step {
  const cur = currentCt(s);
  if (cur !== undefined && ct !== cur) return stay(s);
  if (s.kind === 'done' || s.kind === 'idle') return stay(s);
  const cancelPending = s.kind === 'cancelling' && !s.cancelSent;
  if (cause === 'timer-c') return finish(cur, 408, false, [{ do: 'cancel-branch', ct }], cancelPending);
  if (s.kind === 'cancelling') return finish(cur, 487, false, [], cancelPending);
  if (s.kind === 'awaiting-active') return { next: { ...s, kept: undefined }, effects: NONE }; // the wait decides
  if (inp.target.kind === 'pair' && s.member && !ct.responded) {
    const why = cause === 'transport' ? 'transport error: ' + (detail ?? '') : 'no final response';
    return failover(inp, { member: s.member, ct: cur, attempts: s.attempts, cancelled: false }, why, false);
  }
  if (!ct.responded && hasNextTarget(inp, s.attempts)) return nextTarget(ct, s.attempts);
  const flow = flowOf(inp);
  if (flow && (cause === 'transport' || flow === 'relay')) return finish(cur, 430, false);
  return finish(cur, cause === 'transport' ? 503 : 408, false);
}

function onHopTimeout(s: ForwardState, hop: Hop, inp: ForwardInputs): Step {
  if ((s.kind !== 'sending' && s.kind !== 'cancelling') || s.hop !== hop) return stay(s);
  const member = s.member;
  const direct = !member && s.kind === 'sending' && hasNextTarget(inp, s.attempts);
  if (s.kind === 'sending' && !s.ct.responded && flowOf(inp) === 'relay') {
    if (!hop.putOff && inp.now() - hop.due > HOP_LATE_MS) return { next: { ...s, hop: arm(inp, 1, true) }, effects: NONE };
    // the instance that holds the flow is silent (dead, stopped): the flow is out of reach
    return finish(s.ct, 430, false, [{ do: 'abandon', ct: s.ct }]);
  }
  if (s.ct.responded || (!member && !direct)) return { next: { ...s, hop: undefined }, effects: NONE };
  // Fired late: this process was stalled, and the answer may be waiting, unread, in the
  // socket (timers run before I/O in an event-loop turn). Decide after that I/O is read.
  if (!hop.putOff && inp.now() - hop.due > HOP_LATE_MS) return { next: { ...s, hop: arm(inp, 1, true) }, effects: NONE };
  // A member that answered anything within the last half period is alive: it is busy
  // (or this one datagram was lost) and the transaction retransmits. Not a failure.
  const ms = inp.settings.hopTimeoutMs;
  if (!member) return nextTarget(s.ct, s.kind === 'sending' ? s.attempts : 0);
  if (inp.heardWithin(member, ms / 2)) return { next: { ...s, hop: arm(inp) }, effects: NONE };
  const cancelled = s.kind === 'cancelling';
  return failover(inp, { member, ct: s.ct, attempts: s.kind === 'sending' ? s.attempts : 0, cancelled }, `no response within ${ms} ms`, true);
}

function onActive(s: AwaitingActive, active: string, inp: ForwardInputs): Step {
  const pair = (inp.target as { pair: HaPair }).pair;
  const m = findMember(pair, active);
  if (!m || (m === s.failed && s.last503)) return giveUp(s.kept, s.last503);
  const ct = s.kept;
  if (ct && m === s.failed && pending(ct)) {
    // The silent member is active again (it answered OPTIONS): the request may be in
    // its hands already. Keep the transaction (its retransmissions carry the same
    // branch, so the server answers it once) and give it another hop period.
    return { next: { kind: 'sending', member: m, ct, hop: arm(inp), attempts: s.attempts }, effects: NONE };
  }
  return open(m, s.attempts, ct && pending(ct) ? [{ do: 'abandon', ct }] : []);
}

function onCancel(s: ForwardState): Step {
  switch (s.kind) {
    case 'done':
      return stay(s);
    case 'sending':
      if (s.ct.responded) return { next: { kind: 'cancelling', member: s.member, ct: s.ct, hop: s.hop, cancelSent: true }, effects: [{ do: 'cancel-branch', ct: s.ct }] };
      return { next: { kind: 'cancelling', member: s.member, ct: s.ct, hop: s.hop, cancelSent: false }, effects: NONE };
    case 'cancelling':
      return s.ct.responded ? { next: s, effects: [{ do: 'cancel-branch', ct: s.ct }] } : stay(s);
    default: {
      // not sent yet (waiting for the pair's active member), or its member went silent
      const kept = s.kind === 'awaiting-active' ? s.kept : undefined;
      return finish(undefined, 487, false, kept && pending(kept) ? [{ do: 'abandon', ct: kept }] : []);
    }
  }
}

function prepend(first: ForwardEffect[], step: Step): Step {
  return first.length === 0 ? step : { next: step.next, effects: [...first, ...step.effects] };
}

// ---- the context that runs it ----

const NO_OP_USER: ClientTransactionUser = { onResponse: () => undefined, onFailure: () => undefined };

export class Forwarding implements ClientTransactionUser, ForwardInputs {
  private state: ForwardState = IDLE;
  private hopTimer: TimerHandle | undefined;
  private tracked: PairMember | undefined;
  readonly deadline: number;
  /** The Via list as it came (our Via goes on top of it per attempt). */
  private readonly upstreamVias: SipVia[];

  constructor(
    private readonly env: ForwardEnv,
    private readonly st: ServerTransaction,
    /** The request as it leaves, minus our Via. */
    private readonly template: SipRequest,
    readonly target: ForwardTarget,
    private readonly loopHash: string,
    /** Changes each response on its way upstream (a REGISTER's 2xx: sip/proxy/flows). */
    private readonly shape?: (res: SipResponse) => SipResponse,
  ) {
    const T = env.layer.timers;
    const now = env.clock.now();
    // answer before the upstream client transaction gives up (its timer F / B)
    this.deadline = now + (st.isInvite ? 64 * T.T1 : 60 * T.T1);
    st.context = this;
    st.onEnd = () => this.dispatch({ kind: 'server-end' });
    this.upstreamVias = template.headers.via;
  }

  get settings(): ForwardSettings {
    return this.env.settings;
  }

  /** The machine's state now (tests, debugging). */
  get current(): ForwardState {
    return this.state;
  }

  now(): number {
    return this.env.clock.now();
  }

  heardWithin(member: PairMember, ms: number): boolean {
    return this.target.kind === 'pair' && this.env.feedback.heardWithin(this.target.pair.name, member.target, ms);
  }

  /**
   * Sends the request to the target. For a pair: its active member now; while
   * the pair switches over (no active member, not out of service) the request
   * waits for the new active member within the failover budget; a pair out of
   * service (or not monitored) gets 503 + Retry-After at once.
   */
  start(): void {
    this.dispatch({ kind: 'start', pair: this.target.kind === 'pair' ? this.env.health.pairState(this.target.pair.name) : undefined });
  }

  /** Upstream CANCEL for this INVITE (§16.10). */
  cancel(): void {
    this.dispatch({ kind: 'cancel' });
  }

  /**
   * The pair's active member is now `active`, not the member this request is
   * pending at. Only a request that drew nothing or 100 Trying moves (a member
   * that rang or answered keeps it): the request goes to the new active member
   * at once rather than at its per-hop timeout (an INVITE: with a CANCEL
   * toward the old branch).
   */
  memberLost(active: PairMember): void {
    this.dispatch({ kind: 'member-lost', active });
  }

  onResponse(res: SipResponse, ct: ClientTransaction): void {
    // RFC 7339 §5.4: a member's report rides in our Via, the response's top one as received
    const top = res.headers.via[0];
    if (top !== undefined && hasOcParams(top.params) && this.target.kind === 'pair' && this.env.memberOc) {
      const m = memberAt(this.target.pair, ct.dest);
      if (m) this.env.memberOc.onResponseVia(this.target.pair.name, m.target, top.params);
    }
    this.dispatch({ kind: 'response', res, ct });
  }

  onFailure(cause: ClientFailure, ct: ClientTransaction, detail?: string): void {
    this.dispatch({ kind: 'failure', cause, ct, detail });
  }

  /** Take the step, then bring the timer and the registration in line with the new state, then run the effects. */
  private dispatch(ev: ForwardEvent): void {
    const prev = this.state;
    const { next, effects } = transition(prev, ev, this);
    if (next === prev && effects.length === 0) return;
    this.state = next;
    const hop = hopOf(next);
    if (hop !== hopOf(prev)) {
      this.env.clock.clearTimeout(this.hopTimer);
      this.hopTimer = hop ? this.env.clock.setTimeout(() => this.onHopTimer(hop), hop.ms) : undefined;
    }
    this.track(trackedMember(next));
    this.env.observe?.(prev, ev, next, effects);
    for (let i = 0; i < effects.length; i++) this.run(effects[i]!);
  }

  private onHopTimer(hop: Hop): void {
    if (hopOf(this.state) === hop) this.hopTimer = undefined;
    this.dispatch({ kind: 'hop-timeout', hop });
  }

  private run(fx: ForwardEffect): void {
    switch (fx.do) {
      case 'send':
        return this.send(fx.member, fx.at);
      case 'cancel-branch':
        return this.sendCancel(fx.ct);
      case 'abandon':
        return fx.ct.abandon();
      case 'upstream':
        return this.forwardUpstream(fx.res);
      case 'reply': {
        if (fx.status === 430) this.env.flowFailed?.();
        const extra = fx.retryAfter ? { 'retry-after': String(this.env.settings.retryAfterSeconds) } : undefined;
        return respondUpstream(this.env.counters, this.st, makeResponse(this.st.request, fx.status, fx.retryAfter ? 'Service Unavailable' : undefined, extra));
      }
      case 'count-failover':
        this.env.counters.failovers++;
        return;
      case 'report-failed':
        try {
          this.env.feedback.memberFailed((this.target as { pair: HaPair }).pair.name, fx.member.target, fx.cause);
        } catch {
          // the health plane's problem; the request still gets its answer
        }
        return;
      case 'await-active':
        return this.awaitActive(fx.wait);
      case 'heard':
        this.env.feedback.memberHeard((this.target as { pair: HaPair }).pair.name, fx.member.target);
        return;
      case 'target-failed':
        this.env.targets.failed(this.directDest(fx.at));
        return;
      case 'target-answered':
        this.env.targets.answered(this.directDest(fx.at));
        return;
    }
  }

  private directDest(at: number): Remote {
    return (this.target as { dests: readonly Remote[] }).dests[at]!;
  }

  private send(member: PairMember | undefined, at: number): void {
    let dest: Remote;
    if (member) {
      const c = this.env.counters.forwardedByMember;
      c[member.target] = (c[member.target] ?? 0) + 1;
      dest = { protocol: member.transport, address: member.address, port: member.port };
    } else {
      dest = this.directDest(at);
    }
    const local = this.env.transport.localFor(dest.address);
    // One headers object for every attempt (no copy per send): each attempt sets its own Via
    // list, encoded at once; a client transaction keeps its top Via apart (ct.topVia).
    const t = this.template;
    const via = ownVia(dest.protocol, local.address, local.port, newBranch(this.loopHash));
    // RFC 7339 §5.1: toward a pair member only, our Via says we honour its overload reports
    if (member && this.env.memberOc) offerOc(via);
    t.headers.via = [via, ...this.upstreamVias];
    const msg: SipRequest = { kind: 'request', method: t.method, uri: t.uri, version: '2.0', headers: t.headers, content: t.content };
    const opening = this.state;
    const ct = this.env.layer.sendRequest(msg, dest, this, this.st.responseDest);
    if (this.state !== opening) return; // a failure at once moved the machine on
    this.dispatch({ kind: 'sent', ct });
  }

  private awaitActive(w: Wait): void {
    let p: Promise<string>;
    try {
      p = this.env.feedback.awaitActive((this.target as { pair: HaPair }).pair.name, w.waitMs);
    } catch {
      this.dispatch({ kind: 'no-active', wait: w });
      return;
    }
    p.then(
      (target) => this.dispatch({ kind: 'active', wait: w, target }),
      () => this.dispatch({ kind: 'no-active', wait: w }),
    );
  }

  private track(member: PairMember | undefined): void {
    if (this.tracked === member) return;
    if (this.tracked) this.env.pending.remove(this.tracked, this);
    this.tracked = member;
    if (member) this.env.pending.add(member, this);
  }

  private sendCancel(ct: ClientTransaction): void {
    const rq = ct.request.headers;
    const headers: SipHeaders = {
      via: [ct.topVia],
      to: rq.to,
      from: rq.from,
      'call-id': rq['call-id'],
      cseq: { seq: rq.cseq.seq, method: 'CANCEL' },
      'max-forwards': '70',
    };
    if (rq.route) headers.route = rq.route;
    this.env.layer.sendRequest({ kind: 'request', method: 'CANCEL', uri: ct.request.uri, version: '2.0', headers, content: undefined }, ct.dest, NO_OP_USER);
  }

  private forwardUpstream(res: SipResponse): void {
    const out: SipResponse = {
      kind: 'response',
      status: res.status,
      reason: res.reason,
      version: '2.0',
      headers: { ...res.headers, via: res.headers.via.slice(1) },
      content: res.content,
    };
    respondUpstream(this.env.counters, this.st, this.shape ? this.shape(out) : out);
  }
}

/** The member of `pair` at `dest` (the address and port a client transaction sent to). */
function memberAt(pair: HaPair, dest: Remote): PairMember | undefined {
  for (const m of pair.members) if (m.address === dest.address && m.port === dest.port) return m;
  return undefined;
}

/** Every response the proxy sends upstream on a server transaction passes here: counted by status, then sent. */
export function respondUpstream(counters: ForwardCounters, st: ServerTransaction, res: SipResponse): void {
  counters.responsesByCode[res.status] = (counters.responsesByCode[res.status] ?? 0) + 1;
  st.respond(res);
}
