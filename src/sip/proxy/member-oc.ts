/**
 * sip/proxy/member-oc: RFC 7339 overload control toward the pair members.
 * Here srvproxy is the SIP client and a pair member the SIP server: the Via
 * srvproxy puts on a request to a member announces support (`;oc;oc-algo="loss"`,
 * §5.1), and a member that is overloaded answers with `oc=N` (the percentage
 * of requests to reduce), `oc-validity` (ms), `oc-seq` and `oc-algo` in that
 * Via of its responses (§5.2). Per member:
 *
 *   ┌──────┐  a report: oc = 1..100, oc-validity > 0,     ┌───────────────────────────┐
 *   │ none │  oc-seq newer than the last one kept         │ reducing(percent, until)   │
 *   │      │ ───────────────────────────────────────────► │ a newer report: new values │
 *   │      │ ◄─────────────────────────────────────────── │                            │
 *   └──────┘  oc=0 or oc-validity=0 (newer), or `until`   └───────────────────────────┘
 *             passed (a timer, and the hot path's own look)
 *
 * While reducing, `percent` of the new out-of-dialog requests from user agents
 * for that member are refused (the caller answers them 503 + Retry-After; it
 * also decides which requests may be refused at all). The share is exact: a
 * fraction accumulator refuses request k when k × percent / 100 crosses an
 * integer (50: every second one), instead of §7.2's random draw, so that a
 * window of n requests loses floor(n × percent / 100) and tests are exact.
 *
 * Every value in a member's response is untrusted text: each parameter is
 * length-checked before it is read, a report with a malformed value is ignored
 * whole (counted for ops), nothing here throws. Entering and leaving `reducing` is
 * logged once each (SIP_MEMBER_OC, SIP_MEMBER_OC_END). The hot path is
 * `active` (a number compared with 0) and, only while some member reduces,
 * one map lookup per request; a response is parsed only when its top Via has
 * an `oc` or `oc-validity` parameter with a value.
 * May import: shared, sip/codec.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { logEvent, type Logger } from '../../shared/log.js';
import type { SipVia } from '../codec/codec.js';

type SipParams = SipVia['params'];

/** The algorithms srvproxy offers (§5.1): only loss-based, which every client must support (§7). */
export const OC_ALGO_OFFER = '"loss"';

/**
 * oc-validity when a report carries none, ms. RFC 7339 gives 500 ms as the
 * value to assume; a server that wants longer says so.
 */
export const DEFAULT_VALIDITY_MS = 500;

/**
 * The longest validity honoured, ms. RFC 7339 sets no upper bound; a report of
 * days (or garbage digits that parse) would leave a member throttled long after
 * it stopped reporting, so a validity above an hour is taken as an hour: a
 * member still overloaded then says so again in its next responses.
 */
export const MAX_VALIDITY_MS = 3_600_000;

/** The longest parameter value read (oc-seq is at most 12 + 1 + 5 characters, oc-algo a few names). */
const MAX_VALUE_LEN = 32;

/** oc-seq as its two integer parts (§9: 1*12DIGIT "." 1*5DIGIT), compared exactly. */
export interface OcSeq {
  readonly int: number;
  /** The fraction scaled to 5 digits ("5" → 50000, "00001" → 1). */
  readonly frac: number;
}

/** One report read from a response's top Via. */
export interface OcReport {
  /** Share to reduce, percent (0: none). */
  readonly percent: number;
  /** How long it holds, ms (0: overload control ends). */
  readonly validityMs: number;
  readonly seq: OcSeq | undefined;
}

/**
 * True when the Via carries a report to read (cheap: two property reads). A
 * server that does not support RFC 7339 echoes our Via as it was: `oc` without
 * a value is our own offer coming back, not a report (§5.1), and is not read.
 */
export function hasOcParams(params: SipParams): boolean {
  return typeof params.oc === 'string' || typeof params['oc-validity'] === 'string';
}

/** Marks our Via on a request to a pair member as supporting RFC 7339 (§5.1): `;oc;oc-algo="loss"`. */
export function offerOc(via: SipVia): SipVia {
  via.params.oc = null;
  via.params['oc-algo'] = OC_ALGO_OFFER;
  return via;
}

/** Digits only, 1..max of them; -1 otherwise. */
function digits(s: string, max: number): number {
  const n = s.length;
  if (n === 0 || n > max) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** oc-seq (§9: 1*12DIGIT "." 1*5DIGIT), or undefined when malformed. */
export function parseOcSeq(s: string): OcSeq | undefined {
  if (s.length > 18) return undefined;
  const dot = s.indexOf('.');
  if (dot < 0) return undefined;
  const int = digits(s.slice(0, dot), 12);
  const fracText = s.slice(dot + 1);
  const frac = digits(fracText, 5);
  if (int < 0 || frac < 0) return undefined;
  return { int, frac: frac * 10 ** (5 - fracText.length) };
}

/** Negative, zero or positive as `a` is older than, the same as, or newer than `b`. */
export function compareOcSeq(a: OcSeq, b: OcSeq): number {
  return a.int !== b.int ? a.int - b.int : a.frac - b.frac;
}

/** A value without its surrounding double quotes (oc-algo is a quoted list, §9), trimmed. */
function unquote(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.charCodeAt(0) === 34 && t.charCodeAt(t.length - 1) === 34 ? t.slice(1, -1).trim() : t;
}

/**
 * The report in a response's top Via, or undefined when there is none or it is
 * malformed (every field is checked; one bad field voids the report):
 * - `oc` with a value 0..100 (§7.1: the loss algorithm's percentage); `oc`
 *   without a value is the client's offer, not a report;
 * - `oc-validity`: digits (ms; absent or without a value: DEFAULT_VALIDITY_MS;
 *   more than MAX_VALIDITY_MS: that);
 * - `oc-seq`: 1*12DIGIT "." 1*5DIGIT, or absent;
 * - `oc-algo`: absent (loss assumed: the only one offered), else exactly
 *   `loss` (§5.2: the server picks one of the client's offer).
 */
export function parseOcReport(params: SipParams): OcReport | undefined {
  const oc = params.oc;
  if (typeof oc !== 'string' || oc.length > MAX_VALUE_LEN) return undefined;
  const percent = digits(oc.trim(), 3);
  if (percent < 0 || percent > 100) return undefined;

  let validityMs = DEFAULT_VALIDITY_MS;
  const v = params['oc-validity'];
  if (typeof v === 'string') {
    const n = v.length > MAX_VALUE_LEN ? -1 : digits(v.trim(), 10);
    if (n < 0) return undefined;
    validityMs = Math.min(n, MAX_VALIDITY_MS);
  }

  let seq: OcSeq | undefined;
  const s = params['oc-seq'];
  if (s !== undefined) {
    if (typeof s !== 'string' || s.length > MAX_VALUE_LEN) return undefined;
    seq = parseOcSeq(s.trim());
    if (!seq) return undefined;
  }

  const algo = params['oc-algo'];
  if (algo !== undefined) {
    if (typeof algo !== 'string' || algo.length > MAX_VALUE_LEN) return undefined;
    if (unquote(algo).toLowerCase() !== 'loss') return undefined;
  }
  return { percent, validityMs, seq };
}

/** Where a member's overload control stands (what ops reads). */
export interface MemberOcView {
  readonly pair: string;
  readonly member: string;
  /** Share of new requests from user agents refused now, percent (0: none). */
  readonly percent: number;
  /** New requests refused because the member asked, since start. */
  readonly reduced: number;
}

/** One member's state; kept after its control ends, so that an older report arriving late is still known as older. */
interface MemberState {
  readonly pair: string;
  readonly member: string;
  /** 0: none; else reducing. */
  percent: number;
  /** Clock time the reduction ends. */
  until: number;
  seq: OcSeq | undefined;
  /** Fraction accumulator, in percent points: a request is refused each time it reaches 100. */
  acc: number;
  reduced: number;
  timer: TimerHandle | undefined;
}

export type OcEndReason = 'oc=0' | 'oc-validity=0' | 'expired';

export class MemberOverload {
  private readonly members = new Map<string, MemberState>();
  /** Members reducing now. */
  private reducing = 0;
  /** Reports ignored as malformed (one bad parameter voids a report). */
  malformedReports = 0;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** True while at least one member asks for a reduction (the hot path's only look otherwise). */
  get active(): boolean {
    return this.reducing > 0;
  }

  /**
   * The top Via of a response from `member` (of `pair`) as received: a report
   * is taken when it is well formed and its oc-seq is newer than the last one
   * taken from that member (§5.4); a report without oc-seq cannot be ordered
   * and is taken as it comes. Never throws.
   */
  onResponseVia(pair: string, member: string, params: SipParams): void {
    if (!hasOcParams(params)) return;
    const report = parseOcReport(params);
    if (!report) {
      this.malformedReports++;
      return;
    }
    let st = this.members.get(member);
    // not newer: a report already taken (every response of a transaction may carry the same one), or one overtaken
    if (report.seq && st?.seq && compareOcSeq(report.seq, st.seq) <= 0) return;
    if (!st) {
      // only the state of a member that asks for something is kept (the caller passes pair members only)
      if (report.percent === 0 || report.validityMs === 0) return;
      st = { pair, member, percent: 0, until: 0, seq: undefined, acc: 0, reduced: 0, timer: undefined };
      this.members.set(member, st);
    }
    if (report.seq) st.seq = report.seq;
    // §5.7 / §7.1: oc=0 asks for no reduction; oc-validity=0 ends overload control
    if (report.percent === 0 || report.validityMs === 0) {
      this.end(st, report.percent === 0 ? 'oc=0' : 'oc-validity=0');
      return;
    }
    const now = this.clock.now();
    st.until = now + report.validityMs;
    if (st.percent === 0) {
      st.acc = 0;
      this.reducing++;
      st.percent = report.percent;
      logEvent(this.log, 'SIP_MEMBER_OC', { pair, member, percent: report.percent, validityMs: report.validityMs });
      this.arm(st, report.validityMs);
    } else {
      st.percent = report.percent;
    }
  }

  /**
   * A new request from a user agent is about to go to `member`: true when it is
   * to be refused (the member's share). Only call it for requests that may be
   * refused at all.
   */
  reduce(member: string): boolean {
    const st = this.members.get(member);
    if (!st || st.percent === 0) return false;
    if (this.clock.now() >= st.until) {
      this.end(st, 'expired');
      return false;
    }
    st.acc += st.percent;
    if (st.acc < 100) return false;
    st.acc -= 100;
    st.reduced++;
    return true;
  }

  /** Every member heard from, with its reduction now and its refusals since start (for ops). */
  *view(): IterableIterator<MemberOcView> {
    const now = this.clock.now();
    for (const st of this.members.values()) {
      yield { pair: st.pair, member: st.member, percent: st.percent > 0 && now < st.until ? st.percent : 0, reduced: st.reduced };
    }
  }

  /** Stops the expiry timers. */
  close(): void {
    for (const st of this.members.values()) {
      this.clock.clearTimeout(st.timer);
      st.timer = undefined;
    }
  }

  /**
   * One timer per reduction, not per report: when it fires before `until` (a
   * later report moved it), it is armed again for the rest.
   */
  private arm(st: MemberState, ms: number): void {
    this.clock.clearTimeout(st.timer);
    st.timer = this.clock.setTimeout(() => {
      st.timer = undefined;
      if (st.percent === 0) return;
      const left = st.until - this.clock.now();
      if (left > 0) this.arm(st, left);
      else this.end(st, 'expired');
    }, ms);
  }

  private end(st: MemberState, reason: OcEndReason): void {
    this.clock.clearTimeout(st.timer);
    st.timer = undefined;
    if (st.percent === 0) return;
    st.percent = 0;
    st.acc = 0;
    this.reducing--;
    logEvent(this.log, 'SIP_MEMBER_OC_END', { pair: st.pair, member: st.member, reason, reduced: st.reduced });
  }
}

/**
 * A Request-URI for an emergency service (RFC 5031: `urn:service:sos` and its
 * sub-services such as `urn:service:sos.police`): never refused on a member's
 * request (RFC 7339 §5.10.1 asks clients to keep emergency calls).
 */
export function isEmergencyUri(uri: string): boolean {
  if (uri.length < 15) return false;
  if (uri.slice(0, 15).toLowerCase() !== 'urn:service:sos') return false;
  return uri.length === 15 || uri.charCodeAt(15) === 46 /* . */;
}
