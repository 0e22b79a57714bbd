/**
 * shared/health: the contracts between the health plane (the only writer of
 * health state) and its readers (dns, sip, ops). dns and sip import these
 * types, never the health plane itself. May import: nothing.
 */

export type PairMode = 'check' | 'force';

export interface PairState {
  readonly name: string;
  readonly mode: PairMode;
  /** Target (FQDN) of the active member; null while no member answers. */
  readonly active: string | null;
  readonly inService: boolean;
  /**
   * True only while the pair is really out of service: force mode in which a
   * whole force round (each member probed once) passed without an answer
   * (the PAIR_OUT_OF_SERVICE state). Requests for it get 503 + Retry-After at
   * once. False in check mode and during a switchover (force mode entered,
   * round not yet over): then `active` is null too, but requests wait for the
   * new active member (PairFeedback.awaitActive) instead of failing.
   */
  readonly outOfService: boolean;
}

export type HealthChange =
  | { kind: 'pair'; pair: string }
  | { kind: 'peer'; target: string; healthy: boolean }
  | { kind: 'drain'; draining: boolean };

/** Read-only view of health that dns, sip and ops consume. */
export interface HealthView {
  /** Bumped on every change. */
  readonly version: number;
  readonly draining: boolean;
  /** Health of a pool member by target; self is unhealthy while draining. Unknown targets: true. */
  isMemberHealthy(target: string): boolean;
  pairState(pair: string): PairState | undefined;
  onChange(listener: (change: HealthChange) => void): () => void;
}

/** What the SIP plane tells the pair monitor about forwarded traffic. */
export interface PairFeedback {
  /** A request arrived from this member (by source address): proof it is active (DESIGN.md §4). */
  requestFromMember(pair: string, target: string): void;
  /** A forwarded request got no response within the per-hop timeout, or a transport error. */
  memberFailed(pair: string, target: string, cause: string): void;
  /**
   * A message (request or response) arrived from this member's address: it is
   * alive, whatever it said. Called for every message from a pair member.
   */
  memberHeard(pair: string, target: string): void;
  /**
   * True when a message from this member arrived within the last `ms`
   * milliseconds (the per-hop timer's test for a busy member versus a dead one).
   */
  heardWithin(pair: string, target: string, ms: number): boolean;
  /**
   * Resolves when the pair has an active member again; rejects after
   * `timeoutMs`, at once while the pair is out of service, and when it goes
   * out of service while waiting (so a switchover is waited for, an outage is not).
   */
  awaitActive(pair: string, timeoutMs: number): Promise<string>;
}

export interface ProbeTarget {
  address: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
  /** Request-URI host, e.g. the member's FQDN. */
  host: string;
}

export interface ProbeResult {
  /** Final status code, or null on timeout or transport error. */
  status: number | null;
  /** Round-trip time in milliseconds (when status is not null). */
  rttMs: number;
  error?: string;
}

/** Sends one OPTIONS and reports the final response. Implemented by the SIP plane. */
export interface Prober {
  probe(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult>;
}
