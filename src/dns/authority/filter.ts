/**
 * dns/authority/filter: the health view applied to the pool's records
 * (DESIGN.md §5), as an overlay on the zone snapshots. Run on every zone or
 * health change, never per query.
 *
 * Filtered names: the pool's SRV RRsets (_sip._udp, _sip._tcp, _sips._tcp),
 * the SRV RRsets the pool's NAPTR records point at, and the pool name's own
 * A/AAAA. A withdrawn member's SRV records and addresses disappear there, and
 * so from additional data, which lookup() derives from the filtered RRsets.
 *
 * Fail open: when every member would be withdrawn, nothing is withdrawn
 * (`failOpen`). When only some are, an RRset that would become empty is
 * served whole instead (listed in `failOpenNames`): never an empty answer.
 *
 * Local first: in an RRset that holds a local member, every non-local SRV
 * record gets LOCAL_FIRST_OFFSET added to its priority (capped at 65535);
 * local members keep the priority the zone gives them. Local records and
 * addresses are also listed first.
 *
 * May import: zone/types, dns/authority.
 */
import type { PoolMember, RR, RRType, ZoneSet } from '../../zone/types.js';
import { OverlayZone, OverlayZoneSet } from './overlay.js';

/** Added to the SRV priority of non-local members (local first). */
export const LOCAL_FIRST_OFFSET = 1000;

export interface PoolFilter {
  /** The pool FQDN, canonical. */
  pool: string;
  members: readonly PoolMember[];
  isHealthy(target: string): boolean;
  /** Targets answered ahead of the others. */
  local: readonly string[];
}

export interface FilterOutcome {
  zones: OverlayZoneSet;
  /** Every member unhealthy: the full configured set is served. */
  failOpen: boolean;
  /** Members withdrawn from the answers (empty when failing open). */
  withdrawn: string[];
  /** RRsets served whole because filtering would have emptied them. */
  failOpenNames: string[];
}

const POOL_SRV_PREFIXES = ['_sip._udp.', '_sip._tcp.', '_sips._tcp.'] as const;

export function applyPoolFilter(base: ZoneSet, filter?: PoolFilter): FilterOutcome {
  const overlays = new Map(base.zones.map((z) => [z, new OverlayZone(z)]));
  const outcome = (failOpen: boolean, withdrawn: string[], failOpenNames: string[]): FilterOutcome => ({
    zones: new OverlayZoneSet(base, [...overlays.values()]),
    failOpen,
    withdrawn,
    failOpenNames,
  });
  if (!filter || filter.members.length === 0) return outcome(false, [], []);

  const unhealthy = filter.members.filter((m) => !filter.isHealthy(m.target)).map((m) => m.target);
  const failOpen = unhealthy.length === filter.members.length;
  const withdrawn = new Set(failOpen ? [] : unhealthy);
  const local = new Set(filter.local);
  const keptAddresses = new Set<string>();
  const droppedAddresses = new Set<string>();
  for (const m of filter.members) for (const a of m.addresses) (withdrawn.has(m.target) ? droppedAddresses : keptAddresses).add(a);
  const localAddresses = new Set(filter.members.filter((m) => local.has(m.target)).flatMap((m) => m.addresses));
  const failOpenNames: string[] = [];

  const replace = (name: string, type: RRType, edit: (rrs: readonly RR[]) => RR[]): void => {
    const zone = base.findZone(name);
    if (!zone) return;
    const rrs = zone.lookup(name, type);
    if (rrs.length === 0) return;
    let next = edit(rrs);
    if (next.length === 0) {
      next = reorder(rrs, type);
      failOpenNames.push(`${name}/${type}`);
    }
    const o = overlays.get(zone)!;
    overlays.set(zone, o.with(name, type, next));
  };

  const reorder = (rrs: readonly RR[], type: RRType): RR[] => {
    if (type === 'SRV') return localFirstSrv(rrs, local);
    return [...rrs].sort((a, b) => Number(isLocalAddress(b, localAddresses)) - Number(isLocalAddress(a, localAddresses)));
  };

  const srvNames = new Set(POOL_SRV_PREFIXES.map((p) => p + filter.pool));
  const poolZone = base.findZone(filter.pool);
  for (const rr of poolZone?.lookup(filter.pool, 'NAPTR') ?? []) {
    if (rr.type === 'NAPTR' && rr.data.flags.toLowerCase().includes('s')) srvNames.add(rr.data.replacement);
  }
  for (const name of srvNames) {
    replace(name, 'SRV', (rrs) => localFirstSrv(rrs.filter((r) => r.type !== 'SRV' || !withdrawn.has(r.data.target)), local));
  }
  for (const type of ['A', 'AAAA'] as const) {
    replace(filter.pool, type, (rrs) =>
      reorder(
        rrs.filter((r) => {
          const a = r.type === 'A' || r.type === 'AAAA' ? r.data.address : '';
          return !droppedAddresses.has(a) || keptAddresses.has(a);
        }),
        type,
      ),
    );
  }
  return outcome(failOpen, [...withdrawn], failOpenNames);
}

function isLocalAddress(rr: RR, localAddresses: ReadonlySet<string>): boolean {
  return (rr.type === 'A' || rr.type === 'AAAA') && localAddresses.has(rr.data.address);
}

/** Local members first; non-local ones' priority raised when a local one is present. */
function localFirstSrv(rrs: readonly RR[], local: ReadonlySet<string>): RR[] {
  const isLocal = (r: RR): boolean => r.type === 'SRV' && local.has(r.data.target);
  if (!rrs.some(isLocal) || rrs.every(isLocal)) return [...rrs];
  const mine = rrs.filter(isLocal);
  const others = rrs
    .filter((r) => !isLocal(r))
    .map((r) => (r.type === 'SRV' ? { ...r, data: { ...r.data, priority: Math.min(65535, r.data.priority + LOCAL_FIRST_OFFSET) } } : r));
  return [...mine, ...others];
}
