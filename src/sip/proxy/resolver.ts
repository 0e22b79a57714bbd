/**
 * sip/proxy/resolver: RFC 3263 server location for outbound requests whose
 * Route or Request-URI host is a name outside the site's own data (DESIGN.md
 * §7): transport from the URI (transport parameter, sips → TLS), else NAPTR →
 * SRV (_sip._udp, _sip._tcp, _sips._tcp) → A/AAAA; a URI with a port goes to
 * A/AAAA only (§4.2). DESIGN.md §2 keeps resolver I/O off the hot path:
 * answers are cached (records for their TTL, clamped; negative answers and
 * failures briefly), a cache hit is answered synchronously, a miss starts one
 * lookup per record (concurrent lookups coalesced) through node:dns's c-ares
 * Resolver, bounded in time. Both caches are the one bounded LRU
 * (shared/lru.ts): bounded in entries, the least recently used entry goes
 * first. May import: shared, sip/codec, sip/transport.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { LruCache } from '../../shared/lru.js';
import type { Protocol } from '../transport/types.js';
import { defaultPort } from '../codec/uri.js';

export interface SipResolverOptions {
  /** DNS servers ("addr" or "addr:port", "[v6]:port"); default: the system's. */
  servers?: readonly string[];
  /** Bound on one resolution (every query it needs), ms; default 2000. */
  timeoutMs?: number;
  /** TTL clamp for positive answers, seconds; default 1..300. */
  minTtl?: number;
  maxTtl?: number;
  /** SRV and NAPTR answers (Node does not report their TTL), seconds; default 60 (clamped as above). */
  srvTtl?: number;
  /** NXDOMAIN / no-data answers are kept this long, seconds; default 5. */
  negativeTtl?: number;
  /** Timeouts and server failures are kept this long, seconds; default 1. */
  failureTtl?: number;
  /** Most cached entries (records and results each); default 4096. */
  maxEntries?: number;
  /** Clock (ms); default Date.now. */
  now?: () => number;
}

interface ResolvedTarget {
  protocol: Protocol;
  address: string;
  port: number;
}

/** Where a request goes: targets in preference order, or why not (404: the name has no SIP server; 503: DNS failed). */
export type ResolveOutcome = { ok: true; targets: readonly ResolvedTarget[] } | { ok: false; status: 404 | 503; reason: string };

export interface ResolveQuery {
  host: string;
  /** Port from the URI, if any. */
  port?: number;
  /** The transport the URI names (sip/codec/uri namedTransport: sips or transport=tls → 'tls'), if any. */
  transport?: Protocol;
  /** A sips URI (only TLS targets). */
  secure: boolean;
}

export interface ResolverCounters {
  /** Resolutions answered from the result cache / needing DNS. */
  hits: number;
  misses: number;
  /** DNS queries sent (one per record name and type, coalesced). */
  queries: number;
  failures: number;
}

type RecordKind = 'NAPTR' | 'SRV' | 'A' | 'AAAA';
/** One record lookup's result: the data, 'nx' (NXDOMAIN), 'nodata', or 'fail' (timeout, SERVFAIL, refused). */
type RecordResult<T> = { data: T[]; ttl: number } | 'nx' | 'nodata' | 'fail';

const NAPTR_SERVICES: Record<string, Protocol> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };
const SRV_PREFIX: Record<Protocol, string> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };

class Timeout extends Error {}

export class SipResolver {
  readonly counters: ResolverCounters = { hits: 0, misses: 0, queries: 0, failures: 0 };
  private readonly dns: dns.promises.Resolver;
  private readonly results: LruCache<ResolveOutcome>;
  private readonly records: LruCache<RecordResult<unknown>>;
  private readonly pendingResults = new Map<string, Promise<ResolveOutcome>>();
  private readonly pendingRecords = new Map<string, Promise<RecordResult<unknown>>>();
  private readonly timeoutMs: number;
  private readonly minTtl: number;
  private readonly maxTtl: number;
  private readonly srvTtl: number;
  private readonly negativeTtl: number;
  private readonly failureTtl: number;
  private closed = false;

  constructor(opts: SipResolverOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    // c-ares retries within the overall bound (two tries of half of it each)
    this.dns = new dns.promises.Resolver({ timeout: Math.max(100, Math.floor(this.timeoutMs / 2)), tries: 2 });
    if (opts.servers && opts.servers.length > 0) this.dns.setServers([...opts.servers]);
    this.minTtl = opts.minTtl ?? 1;
    this.maxTtl = opts.maxTtl ?? 300;
    this.srvTtl = opts.srvTtl ?? 60;
    this.negativeTtl = opts.negativeTtl ?? 5;
    this.failureTtl = opts.failureTtl ?? 1;
    const bounds = { maxEntries: Math.max(16, opts.maxEntries ?? 4096), now: opts.now ?? Date.now };
    this.results = new LruCache(bounds);
    this.records = new LruCache(bounds);
  }

  /** A cached, unexpired answer for `q` (synchronous, no I/O), or undefined. */
  cached(q: ResolveQuery): ResolveOutcome | undefined {
    const hit = this.results.get(resultKey(q));
    if (hit) this.counters.hits++;
    return hit;
  }

  /** Resolves `q` (the cache first); never rejects, settles within timeoutMs. */
  resolve(q: ResolveQuery): ResolveOutcome | Promise<ResolveOutcome> {
    const hit = this.cached(q);
    if (hit) return hit;
    if (this.closed) return { ok: false, status: 503, reason: 'Service Unavailable' };
    const key = resultKey(q);
    const pending = this.pendingResults.get(key);
    if (pending) return pending;
    this.counters.misses++;
    const p = this.bounded(this.locate(q)).then(({ outcome, ttl }) => {
      this.pendingResults.delete(key);
      if (!outcome.ok && outcome.status === 503) this.counters.failures++;
      if (!this.closed) this.results.set(key, outcome, ttl * 1000);
      return outcome;
    });
    this.pendingResults.set(key, p);
    return p;
  }

  /** Cancels lookups in flight (they answer 503) and forgets the caches. */
  close(): void {
    this.closed = true;
    this.dns.cancel();
    this.results.clear();
    this.records.clear();
  }

  // ---- RFC 3263 §4 ----

  private async bounded(p: Promise<{ outcome: ResolveOutcome; ttl: number }>): Promise<{ outcome: ResolveOutcome; ttl: number }> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout()), this.timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([p, t]);
    } catch {
      return { outcome: { ok: false, status: 503, reason: 'Service Unavailable (DNS)' }, ttl: this.failureTtl };
    } finally {
      clearTimeout(timer);
    }
  }

  private async locate(q: ResolveQuery): Promise<{ outcome: ResolveOutcome; ttl: number }> {
    const host = q.host.toLowerCase().replace(/\.$/, '');
    const ttl = { v: this.maxTtl };
    const fail = { any: false };
    const done = (targets: ResolvedTarget[]) => ({ outcome: { ok: true, targets } as ResolveOutcome, ttl: ttl.v });
    const none = () =>
      fail.any
        ? { outcome: { ok: false, status: 503, reason: 'Service Unavailable (DNS)' } as ResolveOutcome, ttl: this.failureTtl }
        : { outcome: { ok: false, status: 404, reason: 'Not Found' } as ResolveOutcome, ttl: this.negativeTtl };
    const note = (r: RecordResult<unknown>) => {
      if (r === 'fail') fail.any = true;
      else if (typeof r === 'object') ttl.v = Math.min(ttl.v, r.ttl);
    };

    // §4.2: an explicit port (or an IP literal) means A/AAAA only
    const transport: Protocol = q.transport ?? (q.secure ? 'tls' : 'udp');
    if (q.port !== undefined || isIP(host)) {
      const port = q.port ?? defaultPort(transport);
      const addrs = await this.addresses(host, note);
      if (addrs === 'nx') return none();
      return addrs.length ? done(addrs.map((address) => ({ protocol: transport, address, port }))) : none();
    }

    // §4.1: the transport: from the URI, else NAPTR, else SRV for each transport we support
    let srvNames: { name: string; protocol: Protocol }[];
    if (q.transport) {
      srvNames = [{ name: SRV_PREFIX[q.transport] + host, protocol: q.transport }];
    } else {
      const naptr = (await this.record('NAPTR', host)) as RecordResult<dns.NaptrRecord>;
      note(naptr);
      if (naptr === 'nx') return none();
      srvNames = [];
      if (typeof naptr === 'object') {
        const usable = naptr.data
          .filter((n) => n.flags.toLowerCase() === 's' && NAPTR_SERVICES[n.service.toUpperCase()] !== undefined && n.replacement)
          .filter((n) => !q.secure || NAPTR_SERVICES[n.service.toUpperCase()] === 'tls')
          .sort((a, b) => a.order - b.order || a.preference - b.preference);
        for (const n of usable) srvNames.push({ name: n.replacement.toLowerCase(), protocol: NAPTR_SERVICES[n.service.toUpperCase()] });
      }
      if (srvNames.length === 0) {
        const order: Protocol[] = q.secure ? ['tls'] : ['udp', 'tcp', 'tls'];
        srvNames = order.map((p) => ({ name: SRV_PREFIX[p] + host, protocol: p }));
      }
    }

    for (const s of srvNames) {
      const srv = (await this.record('SRV', s.name)) as RecordResult<dns.SrvRecord>;
      note(srv);
      if (typeof srv !== 'object') continue;
      // RFC 2782 order: priority, then (deterministically here) the larger weight first
      const sorted = srv.data.filter((r) => r.name && r.name !== '.').sort((a, b) => a.priority - b.priority || b.weight - a.weight);
      const targets: ResolvedTarget[] = [];
      for (const r of sorted) {
        const addrs = await this.addresses(r.name.toLowerCase(), note);
        if (addrs === 'nx') continue;
        for (const address of addrs) targets.push({ protocol: s.protocol, address, port: r.port });
      }
      if (targets.length) return done(targets);
    }
    // §4.2: no SRV records: A/AAAA of the host itself, default port
    const addrs = await this.addresses(host, note);
    if (addrs === 'nx' || addrs.length === 0) return none();
    return done(addrs.map((address) => ({ protocol: transport, address, port: defaultPort(transport) })));
  }

  /** A records, else AAAA; 'nx' on NXDOMAIN. */
  private async addresses(host: string, note: (r: RecordResult<unknown>) => void): Promise<string[] | 'nx'> {
    if (isIP(host)) return [host];
    const a = (await this.record('A', host)) as RecordResult<{ address: string; ttl: number }>;
    note(a);
    if (a === 'nx') return 'nx';
    if (typeof a === 'object' && a.data.length) return a.data.map((r) => r.address);
    const aaaa = (await this.record('AAAA', host)) as RecordResult<{ address: string; ttl: number }>;
    note(aaaa);
    if (typeof aaaa === 'object') return aaaa.data.map((r) => r.address);
    return [];
  }

  /** One record set, from the cache or one (coalesced) query. */
  private record(kind: RecordKind, name: string): RecordResult<unknown> | Promise<RecordResult<unknown>> {
    const key = kind + ' ' + name;
    const hit = this.records.get(key);
    if (hit !== undefined) return hit;
    const pending = this.pendingRecords.get(key);
    if (pending) return pending;
    this.counters.queries++;
    const p = this.query(kind, name).then((r) => {
      this.pendingRecords.delete(key);
      const ttl = r === 'fail' ? this.failureTtl : r === 'nx' || r === 'nodata' ? this.negativeTtl : r.ttl;
      if (!this.closed) this.records.set(key, r, ttl * 1000);
      return r;
    });
    this.pendingRecords.set(key, p);
    return p;
  }

  private async query(kind: RecordKind, name: string): Promise<RecordResult<unknown>> {
    try {
      let data: unknown[];
      let ttl = this.clampTtl(this.srvTtl);
      switch (kind) {
        case 'A':
        case 'AAAA': {
          const rs = kind === 'A' ? await this.dns.resolve4(name, { ttl: true }) : await this.dns.resolve6(name, { ttl: true });
          if (rs.length) ttl = this.clampTtl(Math.min(...rs.map((r) => r.ttl)));
          data = rs;
          break;
        }
        case 'SRV':
          data = await this.dns.resolveSrv(name);
          break;
        case 'NAPTR':
          data = await this.dns.resolveNaptr(name);
          break;
      }
      return data.length ? { data, ttl } : 'nodata';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return 'nx';
      if (code === 'ENODATA') return 'nodata';
      return 'fail';
    }
  }

  private clampTtl(s: number): number {
    return Math.max(this.minTtl, Math.min(this.maxTtl, s));
  }
}

function resultKey(q: ResolveQuery): string {
  return q.host.toLowerCase() + '|' + (q.port ?? '') + '|' + (q.transport ?? '') + '|' + (q.secure ? 's' : '');
}
