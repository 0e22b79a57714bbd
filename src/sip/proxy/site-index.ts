/**
 * sip/proxy/site-index: the lookup tables the proxy core routes with, built
 * once per site model (a zone reload swaps the model; the index is rebuilt on
 * the first message that sees the new one): pair members by address and by
 * name, pairs by name, peers, and the names and addresses that mean "this
 * instance". May import: shared, zone/types, sip/transport.
 */
import { canonicalName } from '../../shared/names.js';
import type { HaPair, PairMember, PoolMember, SiteModel } from '../../zone/types.js';
import type { ListenAddress } from '../transport/types.js';

/** The member of `pair` named `target` (names compared canonically: case, trailing dot). */
export function findMember(pair: HaPair, target: string): PairMember | undefined {
  const t = canonicalName(target);
  return pair.members.find((m) => canonicalName(m.target) === t);
}

export interface MemberRef {
  pair: HaPair;
  member: PairMember;
}

export class SiteIndex {
  readonly memberByAddress = new Map<string, MemberRef>();
  readonly memberByName = new Map<string, MemberRef>();
  readonly pairByName = new Map<string, HaPair>();
  readonly peerByName = new Map<string, PoolMember>();
  readonly peerByAddress = new Map<string, PoolMember>();
  /** Names that mean this instance: the pool FQDN and --self. */
  readonly ownNames = new Set<string>();
  readonly ownAddresses = new Set<string>();
  readonly ownPorts = new Set<number>();
  readonly poolName: string;
  readonly selfName: string;

  constructor(
    readonly site: SiteModel,
    listen: readonly ListenAddress[],
  ) {
    this.poolName = canonicalName(site.pool.name);
    this.selfName = canonicalName(site.self.target);
    this.ownNames.add(this.poolName);
    this.ownNames.add(this.selfName);
    for (const a of site.self.addresses) this.ownAddresses.add(a.toLowerCase());
    for (const l of listen) {
      this.ownAddresses.add(l.address.toLowerCase());
      this.ownPorts.add(l.port);
    }
    this.ownPorts.add(site.self.port);
    for (const pair of site.pairs) {
      this.pairByName.set(canonicalName(pair.name), pair);
      for (const member of pair.members) {
        const ref = { pair, member };
        this.memberByName.set(canonicalName(member.target), ref);
        for (const a of member.addresses.length ? member.addresses : [member.address]) this.memberByAddress.set(a.toLowerCase(), ref);
      }
    }
    for (const m of site.pool.members) {
      const name = canonicalName(m.target);
      if (name === this.selfName) continue;
      this.peerByName.set(name, m);
      for (const a of m.addresses) this.peerByAddress.set(a.toLowerCase(), m);
    }
  }

  /** The pair member a request came from, by source IP address only (its TCP port is ephemeral). */
  memberAt(address: string): MemberRef | undefined {
    return this.memberByAddress.get(address.toLowerCase());
  }

  /** The peer instance a request came from, by source IP address (a request relayed to the flow this instance holds). */
  peerAt(address: string): PoolMember | undefined {
    return this.peerByAddress.get(address.toLowerCase());
  }

  pair(name: string): HaPair | undefined {
    return this.pairByName.get(canonicalName(name));
  }
}
