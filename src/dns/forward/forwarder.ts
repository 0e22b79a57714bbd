/**
 * dns/forward/forwarder: Forwarder — answers names outside the served zones
 * for the clients in --forward-allow by asking the --forward upstream
 * resolvers, so that user agents can use srvproxy as their only DNS server
 * without it ever becoming an open resolver.
 *
 * Reached only from the point where the authoritative path would answer
 * REFUSED (respond.ts returns FORWARD): own-zone queries never get here and
 * are never forwarded. Then, in order:
 *   1. client not in --forward-allow, or class not IN: REFUSED, as without
 *      forwarding;
 *   2. a cached answer: relayed at once, TTLs lowered by its age;
 *   3. the same question already asked upstream: the query joins it
 *      (coalescing: a fleet of phones booting at once costs one upstream query);
 *   4. otherwise one resolution: the upstreams in configured order (those
 *      that failed recently after the others), each over UDP with
 *      attemptTimeoutMs, an answer with TC asked again over TCP; an upstream
 *      that times out, is unreachable or answers SERVFAIL/REFUSED/FORMERR/
 *      NOTIMP hands over to the next. The whole resolution ends by
 *      totalTimeoutMs: SERVFAIL to every waiting client when nobody answered.
 *
 * Bounded: the cache in entries and bytes (cache.ts); the clients waiting in
 * total (maxPending) and the resolutions in flight, each holding one socket
 * (maxInflight): beyond them queries are dropped and counted, as resolvers do
 * under overload. Counters are plain numbers for the ops plane.
 *
 * May import: shared, dns/wire, dns/counters, dns/forward.
 */
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { logEvent, silentLogger, type Logger } from '../../shared/log.js';
import { AnswerCache } from './cache.js';
import { rcodeLabel, type DnsCounters } from '../counters.js';
import { AllowList } from '../../shared/ip.js';
import {
  cacheKey, emptyAnswer, foldedName, readClientQuery, relayedAnswer, upstreamQuery,
  type CacheLimits, type ClientQuery, type UpstreamAnswer,
} from './message.js';
import { exchangeTcp, exchangeUdp, type Cancel, type ExchangeResult, type ExchangeSpec, type Upstream } from './upstream.js';
import { CLASS_IN, FLAG, RCODE } from '../wire/wire.js';

export interface ForwardOptions {
  /** Upstream resolvers, tried in this order (--forward). */
  upstreams: readonly { address: string; port: number }[];
  /** Client prefixes allowed to have names forwarded (--forward-allow); empty: nobody. */
  allow: readonly string[];
  /** How long one upstream gets to answer one attempt (UDP, or the TCP retry), ms; default 800. */
  attemptTimeoutMs?: number;
  /** Bound on one resolution across every upstream, ms; default attempt x (upstreams + 1), at most 4000. */
  totalTimeoutMs?: number;
  /** Cache bounds; defaults 10,000 entries and 8 MiB. */
  cacheEntries?: number;
  cacheBytes?: number;
  /** Longest time a positive / negative answer is cached, seconds; defaults 86400 and 10800 (RFC 2308 §5). */
  maxTtl?: number;
  maxNegativeTtl?: number;
  /** Most client queries waiting for upstream answers at once; default 4096. */
  maxPending?: number;
  /** Most resolutions (each one upstream socket) in flight at once; default 256. */
  maxInflight?: number;
  /** How long an upstream that failed is tried after the others, ms; default 10 s. */
  downForMs?: number;
  /** Milliseconds, monotonic (tests inject a fake). */
  now?: () => number;
}

export interface ForwardCounters {
  /** Client queries that started an upstream resolution (cache misses not joining one in flight). */
  forwarded: number;
  /** Client queries answered from the cache. */
  cacheHits: number;
  /** Client queries that joined a resolution already in flight. */
  coalesced: number;
  /** Attempts sent upstream (UDP queries and TCP retries). */
  upstreamQueries: number;
  /** Attempts that failed: timeout, unreachable, SERVFAIL/REFUSED/FORMERR/NOTIMP, TCP failure. */
  upstreamFailures: number;
  /** Upstream answers with TC asked again over TCP. */
  tcpRetries: number;
  /** SERVFAIL answers sent because no upstream answered in time. */
  servfails: number;
  /** Queries for outside names refused because the client is not in --forward-allow. */
  refused: number;
  /** Messages from upstream sockets dropped: wrong source, ID or question. */
  bogus: number;
  /** Queries dropped because maxPending clients were already waiting. */
  overload: number;
}

export function newForwardCounters(): ForwardCounters {
  return { forwarded: 0, cacheHits: 0, coalesced: 0, upstreamQueries: 0, upstreamFailures: 0, tcpRetries: 0, servfails: 0, refused: 0, bogus: 0, overload: 0 };
}

/** Sends one answer back to the client a query came from (UDP datagram or framed TCP write). */
export type Reply = (answer: Buffer) => void;

interface Waiter {
  cq: ClientQuery;
  reply: Reply;
}

interface Resolution {
  key: string;
  cq: ClientQuery;
  folded: Buffer;
  waiters: Waiter[];
  deadline: number;
  /** Upstream indexes in the order this resolution tries them. */
  order: number[];
  next: number;
  cancel: Cancel | null;
}

interface UpstreamState extends Upstream {
  up: boolean;
  downUntil: number;
}

/** Upstream RCODEs that are an answer (relayed and cached); any other hands over to the next upstream. */
function isAnswer(rcode: number): boolean {
  return rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN;
}

export class Forwarder {
  readonly counters: ForwardCounters;
  readonly cache: AnswerCache;
  private readonly allow: AllowList;
  private readonly upstreams: UpstreamState[];
  private readonly inflight = new Map<string, Resolution>();
  private pending = 0;
  private readonly attemptMs: number;
  private readonly totalMs: number;
  private readonly maxPending: number;
  private readonly maxInflight: number;
  private readonly downForMs: number;
  private readonly limits: CacheLimits;
  private readonly now: () => number;

  constructor(
    options: ForwardOptions,
    private readonly dns: DnsCounters,
    private readonly maxUdp: number,
    private readonly log: Logger = silentLogger,
    counters: ForwardCounters = newForwardCounters(),
  ) {
    this.counters = counters;
    this.allow = new AllowList(options.allow);
    this.upstreams = options.upstreams.map((u) => {
      const family = net.isIP(u.address);
      if (family === 0) throw new Error(`upstream is not an IP address: ${u.address}`);
      const address = new net.SocketAddress({ address: u.address, family: family === 6 ? 'ipv6' : 'ipv4' }).address;
      return { address, port: u.port, up: true, downUntil: 0 };
    });
    this.now = options.now ?? (() => performance.now());
    this.attemptMs = options.attemptTimeoutMs ?? 800;
    this.totalMs = options.totalTimeoutMs ?? Math.min(4000, this.attemptMs * (this.upstreams.length + 1));
    this.maxPending = options.maxPending ?? 4096;
    this.maxInflight = options.maxInflight ?? 256;
    this.downForMs = options.downForMs ?? 10_000;
    this.limits = { maxTtl: options.maxTtl ?? 86_400, maxNegativeTtl: options.maxNegativeTtl ?? 10_800 };
    this.cache = new AnswerCache({
      maxEntries: options.cacheEntries ?? 10_000,
      maxBytes: options.cacheBytes ?? 8 << 20,
      now: this.now,
    });
  }

  /** Client queries waiting for an upstream answer now. */
  get waiting(): number {
    return this.pending;
  }

  /**
   * Answer the query `msg[0..len)` from `client` (its source address), whose
   * name is outside the served zones: `reply` is called at most once, now or
   * when the upstream answers.
   */
  query(msg: Uint8Array, len: number, client: string, tcp: boolean, reply: Reply): void {
    const cq = readClientQuery(msg, len, tcp);
    if (!cq) return;
    if (cq.qclass !== CLASS_IN || this.upstreams.length === 0 || !this.allow.contains(client)) {
      this.counters.refused++;
      this.send(reply, emptyAnswer(cq, RCODE.REFUSED, false, this.maxUdp), tcp);
      return;
    }
    const folded = foldedName(cq);
    const key = cacheKey(cq, folded);
    const hit = this.cache.get(key);
    if (hit) {
      this.counters.cacheHits++;
      this.send(reply, relayedAnswer(cq, hit.answer, hit.age, this.maxUdp), tcp);
      return;
    }
    const running = this.inflight.get(key);
    if (this.pending >= this.maxPending || (!running && this.inflight.size >= this.maxInflight)) {
      this.counters.overload++;
      this.dns.dropped++;
      return;
    }
    this.pending++;
    if (running) {
      this.counters.coalesced++;
      running.waiters.push({ cq, reply });
      return;
    }
    this.counters.forwarded++;
    const r: Resolution = {
      key, cq, folded, waiters: [{ cq, reply }], deadline: this.now() + this.totalMs, order: this.order(), next: 0, cancel: null,
    };
    this.inflight.set(key, r);
    this.attempt(r);
  }

  /** Cancel every resolution in flight (their clients get no answer) and empty the cache; usable again after. */
  close(): void {
    for (const r of this.inflight.values()) r.cancel?.();
    this.inflight.clear();
    this.pending = 0;
    this.cache.clear();
  }

  /** Upstreams in configured order, those that failed within downForMs last. */
  private order(): number[] {
    const now = this.now();
    const first: number[] = [];
    const last: number[] = [];
    this.upstreams.forEach((u, i) => (u.downUntil > now ? last : first).push(i));
    return first.concat(last);
  }

  private attempt(r: Resolution): void {
    const left = r.deadline - this.now();
    if (r.next >= r.order.length || left <= 0) {
      this.fail(r);
      return;
    }
    const index = r.order[r.next++]!;
    const id = randomInt(0x10000);
    const spec: ExchangeSpec = {
      upstream: this.upstreams[index]!,
      id,
      query: upstreamQuery(id, r.cq, r.folded),
      cq: r.cq,
      folded: r.folded,
      limits: this.limits,
      timeoutMs: Math.min(this.attemptMs, left),
      onBogus: () => this.counters.bogus++,
    };
    this.counters.upstreamQueries++;
    r.cancel = exchangeUdp(spec, (res) => {
      if (res.ok && res.answer.tc) {
        const tcpLeft = r.deadline - this.now();
        if (tcpLeft > 0) {
          this.counters.tcpRetries++;
          this.counters.upstreamQueries++;
          r.cancel = exchangeTcp({ ...spec, timeoutMs: Math.min(this.attemptMs, tcpLeft) }, (res2) => this.outcome(r, index, res2));
          return;
        }
      }
      this.outcome(r, index, res);
    });
  }

  private outcome(r: Resolution, index: number, res: ExchangeResult): void {
    r.cancel = null;
    const u = this.upstreams[index]!;
    if (res.ok && isAnswer(res.answer.rcode)) {
      u.downUntil = 0;
      if (!u.up) {
        u.up = true;
        logEvent(this.log, 'DNS_UPSTREAM_UP', { upstream: `${u.address}:${u.port}` });
      }
      this.succeed(r, res.answer);
      return;
    }
    this.counters.upstreamFailures++;
    u.downUntil = this.now() + this.downForMs;
    if (u.up) {
      u.up = false;
      const reason = res.ok ? `answered ${rcodeLabel(res.answer.rcode)}` : res.reason;
      logEvent(this.log, 'DNS_UPSTREAM_DOWN', { upstream: `${u.address}:${u.port}`, reason });
    }
    this.attempt(r);
  }

  private succeed(r: Resolution, answer: UpstreamAnswer): void {
    this.end(r);
    this.cache.put(r.key, answer);
    for (const w of r.waiters) this.send(w.reply, relayedAnswer(w.cq, answer, 0, this.maxUdp), w.cq.tcp);
  }

  private fail(r: Resolution): void {
    this.end(r);
    this.counters.servfails += r.waiters.length;
    for (const w of r.waiters) this.send(w.reply, emptyAnswer(w.cq, RCODE.SERVFAIL, true, this.maxUdp), w.cq.tcp);
  }

  private end(r: Resolution): void {
    this.inflight.delete(r.key);
    this.pending -= r.waiters.length;
  }

  private send(reply: Reply, out: Buffer, tcp: boolean): void {
    const o = tcp ? 2 : 0;
    const flags = (out[o + 2]! << 8) | out[o + 3]!;
    this.dns.responses[rcodeLabel(flags & 0xf)]++;
    if (flags & FLAG.TC) this.dns.truncated++;
    reply(out);
  }
}
