/**
 * zone/site: the site model from the zones and the flags (DESIGN.md §1, §3):
 * the pool and its members (SRV targets of _sip._udp, _sip._tcp and
 * _sips._tcp under the pool name, with ports and addresses), self (a pool
 * member, else refuse), the HA pairs (two SRV targets each, the lower
 * priority number is the primary), the serving pair and the local members.
 * A site that makes no sense is refused: --self a member of a --pair, the
 * pool one of the --pairs, a pair member also a pool member, --serving-pair
 * not a --pair. Every refusal is a SiteError whose message names the flag,
 * the zone records involved and the fix.
 * May import: shared, zone/types.
 */
import { SiteError } from '../shared/errors.js';
import { EVENTS } from '../shared/events.js';
import { canonicalName } from '../shared/names.js';
import type { HaPair, PairMember, PoolMember, RRsetOf, SiteModel, SiteOptions, ZoneSet } from './types.js';

/** --self is not a target of the pool's SRV records (event SRV-40000, "own address not in pool"). */
export class OwnAddressNotInPoolError extends SiteError {
  readonly event = EVENTS.OWN_ADDRESS_NOT_IN_POOL.code;
}

const POOL_SRV = [
  { prefix: '_sip._udp.', transport: 'udp' },
  { prefix: '_sip._tcp.', transport: 'tcp' },
  { prefix: '_sips._tcp.', transport: 'tls' },
] as const;
const POOL_SRV_TEXT = '_sip._udp/_sip._tcp/_sips._tcp';

function srvAt(zones: ZoneSet, name: string): readonly RRsetOf<'SRV'>[] {
  return zones.findZone(name)?.lookup(name, 'SRV') ?? [];
}

/** A then AAAA addresses of `name` in the served zones. */
function addressesOf(zones: ZoneSet, name: string): string[] {
  const z = zones.findZone(name);
  if (!z) return [];
  return [...z.lookup(name, 'A'), ...z.lookup(name, 'AAAA')].map((r) => r.data.address);
}

/** Every pool name whose SRV records list `target` (every pool-shaped SRV owner when `target` is undefined). */
function poolsOf(zones: ZoneSet, target: string | undefined): string[] {
  const pools = new Set<string>();
  for (const z of zones.zones) {
    for (const rr of z.recordsOfType('SRV')) {
      if (target !== undefined && rr.data.target !== target) continue;
      for (const { prefix } of POOL_SRV) if (rr.name.startsWith(prefix)) pools.add(rr.name.slice(prefix.length));
    }
  }
  return [...pools].sort();
}

/** The SRV record of pair `pair` whose target is `target`, as zone text (owner SRV priority weight port target), if any. */
function pairSrvNaming(zones: ZoneSet, pair: string, target: string): string | undefined {
  for (const { prefix } of POOL_SRV) {
    const rr = srvAt(zones, prefix + pair).find((r) => r.data.target === target);
    if (rr) return srvText(prefix + pair, rr);
  }
  return undefined;
}

function srvText(owner: string, rr: RRsetOf<'SRV'>): string {
  return `${owner}. SRV ${rr.data.priority} ${rr.data.weight} ${rr.data.port} ${rr.data.target || ''}.`;
}

/** The pool's SRV records (those naming `target` only, when given), as zone text. */
function poolSrvText(zones: ZoneSet, pool: string, target?: string): string {
  const out: string[] = [];
  for (const { prefix } of POOL_SRV) {
    for (const rr of srvAt(zones, prefix + pool)) if (target === undefined || rr.data.target === target) out.push(srvText(prefix + pool, rr));
  }
  return out.join('; ');
}

function poolMembers(zones: ZoneSet, pool: string): PoolMember[] {
  const members = new Map<string, PoolMember>();
  for (const { prefix, transport } of POOL_SRV) {
    for (const rr of srvAt(zones, prefix + pool)) {
      const t = rr.data.target;
      let m = members.get(t);
      if (!m) {
        m = { target: t, port: rr.data.port, priority: rr.data.priority, weight: rr.data.weight, transports: [], addresses: addressesOf(zones, t) };
        members.set(t, m);
      }
      if (!m.transports.includes(transport)) m.transports.push(transport);
    }
  }
  for (const m of members.values()) {
    if (m.target === '') throw new SiteError(`pool ${pool}: an SRV record has the target "." (service not available); remove it`);
    if (m.addresses.length === 0) throw new SiteError(`pool ${pool}: member ${m.target} has no A or AAAA record in the served zones`);
  }
  return [...members.values()];
}

function buildPair(zones: ZoneSet, name: string): HaPair {
  let transport: 'udp' | 'tcp' | 'tls' = 'udp';
  let srv = srvAt(zones, '_sip._udp.' + name);
  if (srv.length === 0) {
    transport = 'tcp';
    srv = srvAt(zones, '_sip._tcp.' + name);
  }
  if (srv.length === 0) {
    transport = 'tls';
    srv = srvAt(zones, '_sips._tcp.' + name);
  }
  if (srv.length === 0) throw new SiteError(`--pair ${name}: no _sip._udp.${name} or _sip._tcp.${name} SRV records in the served zones (nor _sips._tcp.${name})`);
  const srvName = transport === 'tls' ? `_sips._tcp.${name}` : `_sip._${transport}.${name}`;
  const targets = [...new Set(srv.map((r) => r.data.target))];
  if (srv.length !== 2 || targets.length !== 2) {
    throw new SiteError(`--pair ${name}: ${srvName} must list exactly two SRV targets (primary and backup); found ${srv.length}: ${srv.map((r) => r.data.target || '.').join(', ')}`);
  }
  const [a, b] = [...srv].sort((x, y) => x.data.priority - y.data.priority);
  if (a.data.priority === b.data.priority) {
    throw new SiteError(`--pair ${name}: both ${srvName} targets have priority ${a.data.priority}; give the primary the lower number`);
  }
  const member = (rr: RRsetOf<'SRV'>, role: 'primary' | 'backup'): PairMember => {
    const addresses = addressesOf(zones, rr.data.target);
    if (addresses.length === 0) throw new SiteError(`--pair ${name}: ${role} ${rr.data.target || '.'} has no A or AAAA record in the served zones`);
    return { target: rr.data.target, port: rr.data.port, address: addresses[0], addresses, role, transport };
  };
  return { name, members: [member(a, 'primary'), member(b, 'backup')] };
}

/** Build the site model; SiteError (or OwnAddressNotInPoolError) with a clear message when zone and flags disagree. */
export function buildSite(zones: ZoneSet, opts: SiteOptions): SiteModel {
  const self = canonicalName(opts.self);
  if (self === '') throw new SiteError('--self is required: the FQDN of this instance, an SRV target of the pool');
  const pairNames = (opts.pairs ?? []).map(canonicalName);
  // --self naming a SIP Server: the instance would take that pair for its pool and withdraw the servers from DNS
  for (const p of pairNames) {
    const rr = pairSrvNaming(zones, p, self);
    if (rr) throw new SiteError(`--self ${self} is a member of --pair ${p} (${rr}); --self must name a proxy instance, an SRV target of the pool`);
  }
  let poolName: string;
  if (opts.pool !== undefined) {
    poolName = canonicalName(opts.pool);
  } else {
    const pools = poolsOf(zones, self).filter((p) => !pairNames.includes(p));
    if (pools.length === 0) {
      const pairs = new Set((opts.pairs ?? []).map(canonicalName));
      const all = poolsOf(zones, undefined).filter((p) => !pairs.has(p));
      if (all.length === 1) {
        throw new OwnAddressNotInPoolError(`--self ${self} is not an SRV target of ${all[0]} (${POOL_SRV_TEXT}); own proxy address not found in the list`);
      }
      throw new OwnAddressNotInPoolError(`--self ${self} is not an SRV target of any pool (${POOL_SRV_TEXT}) in the served zones; own proxy address not found in the list`);
    }
    if (pools.length > 1) throw new SiteError(`--self ${self} is an SRV target of several pools (${pools.join(', ')}); name one with --pool`);
    poolName = pools[0];
  }
  if (!zones.findZone(poolName)) throw new SiteError(`--pool ${poolName} is not inside any served zone`);
  if (pairNames.includes(poolName)) {
    throw new SiteError(`--pair ${poolName} is the pool (${poolSrvText(zones, poolName) || 'no SRV records'}); the pool lists proxy instances, a pair the two SIP Servers`);
  }
  const members = poolMembers(zones, poolName);
  if (members.length === 0) throw new SiteError(`--pool ${poolName} has no SRV records (${POOL_SRV_TEXT})`);
  const selfMember = members.find((m) => m.target === self);
  if (!selfMember) {
    throw new OwnAddressNotInPoolError(`--self ${self} is not an SRV target of ${poolName} (${POOL_SRV_TEXT}); own proxy address not found in the list`);
  }

  if (pairNames.length === 0) throw new SiteError('--pair is required: the FQDN of at least one SIP Server HA pair');
  const dup = pairNames.find((p, i) => pairNames.indexOf(p) !== i);
  if (dup !== undefined) throw new SiteError(`--pair ${dup} is given more than once`);
  const pairs = pairNames.map((p) => buildPair(zones, p));
  for (const pair of pairs) {
    for (const m of pair.members) {
      const pm = members.find((x) => x.target === m.target);
      if (pm) {
        throw new SiteError(`--pair ${pair.name}: ${m.role} ${m.target} is also a member of the pool ${poolName} (${poolSrvText(zones, poolName, m.target)}); a SIP Server cannot be a proxy instance`);
      }
    }
  }

  let servingPair = pairs[0];
  if (opts.servingPair !== undefined) {
    const want = canonicalName(opts.servingPair);
    const found = pairs.find((p) => p.name === want);
    if (!found) {
      const srv = POOL_SRV.map((x) => x.prefix + want).filter((n) => srvAt(zones, n).length > 0);
      const has = srv.length ? `; ${srv.join(', ')} is in the zones: add --pair ${want}` : '';
      throw new SiteError(`--serving-pair ${want} is not one of the --pair names (${pairNames.join(', ')})${has}`);
    }
    servingPair = found;
  }

  const local = [self];
  for (const l of (opts.local ?? []).map(canonicalName)) {
    if (!members.some((m) => m.target === l)) throw new SiteError(`--local ${l} is not a member of the pool ${poolName}`);
    if (!local.includes(l)) local.push(l);
  }

  return { pool: { name: poolName, members }, self: selfMember, local, pairs, servingPair };
}
