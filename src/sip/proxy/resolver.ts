/**
 * sip/proxy/resolver: RFC 3263 server location for outbound requests whose
 * Route or Request-URI host is a name, not an address (DESIGN.md §7):
 * transport from the URI (transport parameter, sips → TLS), else NAPTR →
 * SRV (_sip._udp, _sip._tcp, _sips._tcp) → A/AAAA; a URI with a port goes to
 * A/AAAA only (§4.2); CNAMEs followed. A name in the served zones is answered
 * from the zone data (a NameSource, never a DNS query); any other name
 * through a SipDnsClient (the DNS plane's stub resolver against the system's
 * resolvers), each record kept for the TTL its answer carried (clamped).
 * Both reach this file through the interfaces below, wired by the site: sip
 * never imports dns or the zone code. DESIGN.md §2 keeps resolver I/O off the
 * hot path: answers are cached (records for their TTL; negative answers and
 * failures briefly), a cache hit is answered synchronously, a miss starts one
 * lookup per record (concurrent lookups coalesced), bounded in time. Both
 * caches are the one bounded LRU (shared/lru.ts). The targets of one
 * resolution keep their SRV priority and weight: orderTargets() makes the
 * RFC 2782 weighted choice per request. May import: shared, sip/codec,
 * sip/transport.
 */
import { isIP } from 'node:net';
import { LruCache } from '../../shared/lru.js';
import type { Protocol } from '../transport/types.js';
import { defaultPort } from '../codec/uri.js';

export type RecordKind = 'NAPTR' | 'SRV' | 'A' | 'AAAA';
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** Target name, canonical (lower case, no trailing dot); '' for ".". */
  name: string;
}
export interface NaptrRecord {
  order: number;
  preference: number;
  flags: string;
  service: string;
  regexp: string;
  /** Canonical name; '' for ".". */
  replacement: string;
}
export interface AddressRecord {
  address: string;
}
/** The records of one name and kind, and their TTL (seconds); or NXDOMAIN, no data, or a failure (timeout, SERVFAIL, refused). */
export type RecordAnswer = { data: readonly (SrvRecord | NaptrRecord | AddressRecord)[]; ttl: number } | 'nx' | 'nodata' | 'fail';

/** DNS for names outside the served zones (implemented by the DNS plane, injected by the site). */
export interface SipDnsClient {
  /** One record set; never rejects. */
  query(kind: RecordKind, name: string): Promise<RecordAnswer>;
  close(): void;
}

/**
 * The served zones as the resolver reads them (implemented by the zone plane,
 * injected by the site). lookup: undefined when `name` is not inside a served
 * zone; `{ alias }` when `name` is a CNAME (follow it); else the records.
 */
export interface NameSource {
  lookup(kind: RecordKind, name: string): RecordAnswer | { alias: string } | undefined;
}

export interface SipResolverOptions {
  /** DNS for names outside the zones; without it such names are not resolved (404). */
  client?: SipDnsClient;
  /** The served zones now (a getter: a reload swaps them); without it every name goes to the client. */
  names?: () => NameSource | undefined;
  /** Bound on one resolution (every query it needs), ms; default 2000. */
  timeoutMs?: number;
  /** TTL clamp for positive answers, seconds; default 1..300. */
  minTtl?: number;
  maxTtl?: number;
  /** NXDOMAIN / no-data answers are kept this long, seconds; default 5. */
  negativeTtl?: number;
  /** Timeouts and server failures are kept this long, seconds; default 1. */
  failureTtl?: number;
  /** Most cached entries (records and results each); default 4096. */
  maxEntries?: number;
  /** Clock (ms); default Date.now. */
  now?: () => number;
}

export interface ResolvedTarget {
  protocol: Protocol;
  address: string;
  port: number;
  /** From the SRV record that named it (0 and 0 without SRV). */
  priority: number;
  weight: number;
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
  /** DNS queries sent (one per record name and type, coalesced); names in the zones never count. */
  queries: number;
  failures: number;
}

/** One record lookup's result: the data ('own': from the zones), 'nx' (NXDOMAIN), 'nodata', or 'fail' (timeout, SERVFAIL, refused). */
type RecordResult<T> = { data: readonly T[]; ttl: number; own?: boolean } | 'nx' | 'nodata' | 'fail';

/** CNAMEs followed for one record, at most. */
const MAX_ALIASES = 8;

const NAPTR_SERVICES: Record<string, Protocol> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };
const SRV_PREFIX: Record<Protocol, string> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };

class Timeout extends Error {}

/**
 * The order to try `targets` in for one request (RFC 2782): priority groups in
 * ascending order; within a group, a weighted random choice (weight 0 rarely,
 * but still), then the next among those left. `failed` targets (tried after
 * the others for a while) go last, in the same order. `random` in [0, 1).
 */
export function orderTargets(targets: readonly ResolvedTarget[], failed: (t: ResolvedTarget) => boolean, random: () => number = Math.random): ResolvedTarget[] {
  const out: ResolvedTarget[] = [];
  const later: ResolvedTarget[] = [];
  let i = 0;
  while (i < targets.length) {
    let j = i;
    while (j < targets.length && targets[j]!.priority === targets[i]!.priority) j++;
    const group = targets.slice(i, j);
    while (group.length > 0) {
      let sum = 0;
      for (const t of group) sum += t.weight;
      let k = 0;
      if (sum > 0) {
        let r = random() * sum;
        for (k = 0; k < group.length - 1; k++) {
          r -= group[k]!.weight;
          if (r < 0) break;
        }
      }
      const [t] = group.splice(k, 1);
      (failed(t!) ? later : out).push(t!);
    }
    i = j;
  }
  return later.length ? out.concat(later) : out;
}

export class SipResolver {
  readonly counters: ResolverCounters = { hits: 0, misses: 0, queries: 0, failures: 0 };
  private readonly client: SipDnsClient | undefined;
  private readonly names: () => NameSource | undefined;
  private readonly results: LruCache<ResolveOutcome>;
  private readonly records: LruCache<RecordResult<unknown>>;
  private readonly pendingResults = new Map<string, Promise<ResolveOutcome>>();
  private readonly pendingRecords = new Map<string, Promise<RecordResult<unknown>>>();
  private readonly timeoutMs: number;
  private readonly minTtl: number;
  private readonly maxTtl: number;
  private readonly negativeTtl: number;
  private readonly failureTtl: number;
  private closed = false;

  constructor(opts: SipResolverOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.client = opts.client;
    this.names = opts.names ?? (() => undefined);
    this.minTtl = opts.minTtl ?? 1;
    this.maxTtl = opts.maxTtl ?? 300;
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
      // an answer for a name in the zones is not kept (a 404 neither): the zone lookup is cheap, and a reload must show at once
      if (!this.closed && ttl > 0 && this.names()?.lookup('A', q.host.toLowerCase().replace(/\.$/, '')) === undefined) {
        this.results.set(key, outcome, ttl * 1000);
      }
      return outcome;
    });
    this.pendingResults.set(key, p);
    return p;
  }

  /** Closes the DNS client (lookups in flight answer 503) and forgets the caches. */
  close(): void {
    this.closed = true;
    this.client?.close();
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
      else if (typeof r === 'object') ttl.v = r.own ? 0 : Math.min(ttl.v, r.ttl);
    };

    // §4.2: an explicit port (or an IP literal) means A/AAAA only
    const transport: Protocol = q.transport ?? (q.secure ? 'tls' : 'udp');
    if (q.port !== undefined || isIP(host)) {
      const port = q.port ?? defaultPort(transport);
      const addrs = await this.addresses(host, note);
      if (addrs === 'nx') return none();
      return addrs.length ? done(addrs.map((address) => ({ protocol: transport, address, port, priority: 0, weight: 0 }))) : none();
    }

    // §4.1: the transport: from the URI, else NAPTR, else SRV for each transport we support
    let srvNames: { name: string; protocol: Protocol }[];
    if (q.transport) {
      srvNames = [{ name: SRV_PREFIX[q.transport] + host, protocol: q.transport }];
    } else {
      const naptr = (await this.record('NAPTR', host)) as RecordResult<NaptrRecord>;
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
      const srv = (await this.record('SRV', s.name)) as RecordResult<SrvRecord>;
      note(srv);
      if (typeof srv !== 'object') continue;
      // by priority; the weighted choice within a priority is made per request (orderTargets)
      const sorted = srv.data.filter((r) => r.name && r.name !== '.').sort((a, b) => a.priority - b.priority);
      const targets: ResolvedTarget[] = [];
      for (const r of sorted) {
        const addrs = await this.addresses(r.name.toLowerCase(), note);
        if (addrs === 'nx') continue;
        // a target's weight is shared by its addresses (they are one SRV choice)
        for (const address of addrs) targets.push({ protocol: s.protocol, address, port: r.port, priority: r.priority, weight: r.weight / addrs.length });
      }
      if (targets.length) return done(targets);
    }
    // §4.2: no SRV records: A/AAAA of the host itself, default port
    const addrs = await this.addresses(host, note);
    if (addrs === 'nx' || addrs.length === 0) return none();
    return done(addrs.map((address) => ({ protocol: transport, address, port: defaultPort(transport), priority: 0, weight: 0 })));
  }

  /** A records, else AAAA; 'nx' on NXDOMAIN. */
  private async addresses(host: string, note: (r: RecordResult<unknown>) => void): Promise<string[] | 'nx'> {
    if (isIP(host)) return [host];
    const a = (await this.record('A', host)) as RecordResult<AddressRecord>;
    note(a);
    if (a === 'nx') return 'nx';
    if (typeof a === 'object' && a.data.length) return a.data.map((r) => r.address);
    const aaaa = (await this.record('AAAA', host)) as RecordResult<AddressRecord>;
    note(aaaa);
    if (typeof aaaa === 'object') return aaaa.data.map((r) => r.address);
    return [];
  }

  /** One record set: from the zones, else from the cache or one (coalesced) DNS query. */
  private record(kind: RecordKind, name: string, aliases = 0): RecordResult<unknown> | Promise<RecordResult<unknown>> {
    const own = this.names()?.lookup(kind, name);
    if (own !== undefined) {
      if (typeof own === 'object' && 'alias' in own) return aliases < MAX_ALIASES ? this.record(kind, own.alias, aliases + 1) : 'fail';
      return typeof own === 'object' ? { data: own.data, ttl: own.ttl, own: true } : own;
    }
    const key = kind + ' ' + name;
    const hit = this.records.get(key);
    if (hit !== undefined) return hit;
    const pending = this.pendingRecords.get(key);
    if (pending) return pending;
    if (!this.client) return 'nx';
    this.counters.queries++;
    const p = this.client.query(kind, name).then((r) => {
      this.pendingRecords.delete(key);
      const out: RecordResult<unknown> = typeof r === 'object' ? { data: r.data, ttl: this.clampTtl(r.ttl) } : r;
      const ttl = typeof out === 'object' ? out.ttl : out === 'fail' ? this.failureTtl : this.negativeTtl;
      if (!this.closed) this.records.set(key, out, ttl * 1000);
      return out;
    });
    this.pendingRecords.set(key, p);
    return p;
  }

  private clampTtl(s: number): number {
    return Math.max(this.minTtl, Math.min(this.maxTtl, s));
  }
}

function resultKey(q: ResolveQuery): string {
  return q.host.toLowerCase() + '|' + (q.port ?? '') + '|' + (q.transport ?? '') + '|' + (q.secure ? 's' : '');
}
