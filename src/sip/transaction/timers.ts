/**
 * sip/transaction/timers: RFC 3261 §17 timer values and the small
 * interfaces transactions need from below (a sender and a clock).
 * May import: shared, sip/transport.
 */
import type { Clock } from '../../shared/clock.js';
import type { Remote } from '../transport/types.js';

export interface TimerConfig {
  /** RTT estimate (timers A, E, G start here). */
  T1: number;
  /** Cap of the non-INVITE request and INVITE response retransmit interval (E, G). */
  T2: number;
  /** Longest a message stays in the network (K, I). */
  T4: number;
  /** Proxy INVITE timer C: longest a forwarded INVITE may stay proceeding (RFC 3261 §16.6 step 11). */
  timerC: number;
}

export const DEFAULT_TIMERS: TimerConfig = { T1: 500, T2: 4000, T4: 5000, timerC: 180_000 };

export interface Sender {
  send(dest: Remote, data: Buffer, onError?: (err: Error) => void): void;
}

export interface TransactionEnv {
  sender: Sender;
  clock: Clock;
  timers: TimerConfig;
  /** Called once when a transaction ends, to drop it from its table (if the table still holds it). */
  onEnd(kind: 'server' | 'client', key: string, tx: object): void;
  /**
   * The transaction only absorbs retransmissions from now on: its table entry becomes a
   * compact record (sip/transaction/retired) for `lifetimeMs` (0: dropped at once).
   * `last`/`dest`: the response resent on a retransmitted request; `upstream`: where 2xx
   * retransmissions of an Accepted INVITE client transaction go.
   */
  retire(
    kind: 'server' | 'client', key: string, state: 'accepted' | 'completed', lifetimeMs: number,
    last?: Buffer, dest?: Remote, upstream?: Remote,
  ): void;
  /** Counts retransmissions sent (for operators). */
  retransmitted(): void;
}
