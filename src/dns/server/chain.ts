/**
 * dns/server/chain: the one handler chain every DNS message goes through,
 * whichever transport it came on. In order:
 *
 *   1. a zone transfer request (AXFR/IXFR): the transfer part (xfr.ts) — over
 *      TCP only; over UDP it falls through and is REFUSED like any transfer;
 *   2. everything else: the authority (respond.ts), which answers from the
 *      current AnswerTable, or hands
 *   3. a query that carries a TSIG record (SIGNED) to the TSIG check
 *      (xfr.ts answerSigned: checked, answered through respond(), signed;
 *      BADKEY when no key is configured), or a name outside the zones
 *      (FORWARD) to
 *   4. the forwarder (forward/), for clients in --forward-allow; its answer
 *      comes later and goes out the same way.
 *
 * What differs by transport is a parameter (Transport): TCP frames answers
 * with a 2-byte length and fits them to 65535 octets, UDP to the client's
 * size; zone transfers only over TCP; response rate limiting (rrl.ts) only
 * on what UDP sends (a spoofed source cannot complete a TCP handshake).
 *
 * Synchronous up to the forwarder; nothing is allocated per message beyond
 * the answer (a closure only for a forwarded query, as it waits). Whether a
 * query is signed is seen by the query parser's own walk of the additional
 * section, so unsigned queries pay nothing for TSIG.
 *
 * May import: dns/counters, dns/authority, dns/secondary, dns/forward,
 * dns/server.
 */
import { emptyAnswerTable, type AnswerTable } from '../authority/answers.js';
import { FORWARD, respond, SIGNED } from '../authority/respond.js';
import type { DnsCounters } from '../counters.js';
import type { Forwarder } from '../forward/forwarder.js';
import { isTransferQuery, ZoneTransfer } from '../secondary/xfr.js';
import { truncatedResponse, type ResponseRateLimiter } from './rrl.js';

/** How one transport differs, and how it sends an answer to the client named by a context `C`. */
export interface Transport<C> {
  /** TCP: answers carry a 2-byte length, fit 65535 octets, and zone transfers are served. */
  readonly tcp: boolean;
  /** Response rate limiting of what this transport sends (UDP); null: none (TCP). */
  readonly rrl: ResponseRateLimiter | null;
  /** Sends `answer` to the client `ctx` (a UDP remote, a TCP socket). */
  send(ctx: C, answer: Buffer): void;
}

export interface ChainParts {
  counters: DnsCounters;
  /** Largest UDP answer, and the payload size advertised in OPT. */
  maxUdp: number;
  forwarder: Forwarder | null;
  transfer: ZoneTransfer | undefined;
  /** Errors thrown while sending a forwarded answer (the socket may have closed meanwhile). */
  onError: (err: unknown) => void;
}

export class QueryChain {
  /** The table queries are answered from; swapped by one assignment. */
  table: AnswerTable = emptyAnswerTable();
  /** Answers signed queries when no transfer part is configured (every key unknown: BADKEY); made at the first. */
  private unkeyed: ZoneTransfer | undefined;

  constructor(private readonly parts: ChainParts) {}

  /** Answers the message `msg` from `source` that came on `t`; the answer (if any) goes out through `t`, now or later. */
  handle<C>(msg: Buffer, source: string, t: Transport<C>, ctx: C): void {
    const p = this.parts;
    const xfr = p.transfer;
    let out: Buffer | null;
    if (xfr !== undefined && t.tcp && isTransferQuery(msg)) out = xfr.answer(this.table, msg, source, p.maxUdp);
    else {
      out = respond(this.table, msg, msg.length, t.tcp, p.counters, p.maxUdp, p.forwarder !== null);
      if (out === SIGNED) out = (xfr ?? (this.unkeyed ??= new ZoneTransfer({ allow: [] }))).answerSigned(this.table, msg, t.tcp, p.counters, p.maxUdp, source);
      else if (out === FORWARD) {
        p.forwarder!.query(msg, msg.length, source, t.tcp, (answer) => {
          try {
            this.deliver(t, ctx, source, answer);
          } catch (err) {
            p.onError(err);
          }
        });
        return;
      }
    }
    if (out) this.deliver(t, ctx, source, out);
  }

  private deliver<C>(t: Transport<C>, ctx: C, source: string, out: Buffer): void {
    const rrl = t.rrl;
    if (rrl !== null) {
      const verdict = rrl.check(source);
      if (verdict === 'drop') return;
      if (verdict === 'truncated') {
        const tc = truncatedResponse(out);
        if (!tc) return;
        this.parts.counters.truncated++;
        out = tc;
      }
    }
    t.send(ctx, out);
  }
}
