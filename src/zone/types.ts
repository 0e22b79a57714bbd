/**
 * zone/types: the data a zone snapshot holds. Names are canonical (see
 * shared/names.ts): lower case, absolute, no trailing dot. Snapshots are
 * immutable: a reload builds a new one and swaps the reference.
 * May import: nothing.
 */

export type RRType = 'SOA' | 'NS' | 'A' | 'AAAA' | 'CNAME' | 'SRV' | 'NAPTR' | 'TXT' | 'PTR' | 'MX' | 'CAA';

export const RR_TYPE_CODES: Readonly<Record<RRType, number>> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, NAPTR: 35, CAA: 257,
};

interface SoaData { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
interface SrvData { priority: number; weight: number; port: number; target: string }
interface NaptrData { order: number; preference: number; flags: string; service: string; regexp: string; replacement: string }
interface MxData { preference: number; exchange: string }
interface CaaData { flags: number; tag: string; value: Buffer }

/** Record data by type. Addresses are in canonical text form (net.isIP-valid; IPv6 compressed, lower case). */
export type RData =
  | { type: 'SOA'; data: SoaData }
  | { type: 'NS'; data: { host: string } }
  | { type: 'CNAME'; data: { target: string } }
  | { type: 'PTR'; data: { target: string } }
  | { type: 'A'; data: { address: string } }
  | { type: 'AAAA'; data: { address: string } }
  | { type: 'SRV'; data: SrvData }
  | { type: 'NAPTR'; data: NaptrData }
  | { type: 'TXT'; data: { strings: Buffer[] } }
  | { type: 'MX'; data: MxData }
  | { type: 'CAA'; data: CaaData };

/** One resource record, with where it came from (for error messages). */
export type RR = RData & {
  name: string;
  ttl: number;
  file: string;
  line: number;
};

export type RRsetOf<T extends RRType> = Extract<RR, { type: T }>;

/** The names of a zone: membership and iteration (no per-name objects behind it). */
export interface NameSet extends Iterable<string> {
  readonly size: number;
  has(name: string): boolean;
}

/** One zone: an apex (its SOA owner) and its records, indexed by name then type. */
export interface Zone {
  readonly origin: string;
  readonly soa: RRsetOf<'SOA'>;
  readonly records: readonly RR[];
  /** Every owner name in the zone (and empty non-terminals), canonical. */
  readonly names: NameSet;
  /**
   * A digest of what the zone serves (records in order, the SOA serial left
   * out): equal digests mean equal answers.
   */
  readonly digest: string;
  /** The records of `name` (canonical) of `type`; [] when none. */
  lookup<T extends RRType>(name: string, type: T): readonly RRsetOf<T>[];
  /** Every record owned by `name`. */
  recordsAt(name: string): readonly RR[];
  /** Every record of `type`, in file order. */
  recordsOfType<T extends RRType>(type: T): readonly RRsetOf<T>[];
  /** The files this zone was read from (the main file first, then $INCLUDEs). */
  readonly files: readonly string[];
}

/** All served zones at one moment. */
export interface ZoneSet {
  readonly zones: readonly Zone[];
  /** The zone with the longest origin that contains `name`, if any. */
  findZone(name: string): Zone | undefined;
}

/** A proxy instance of the pool, as the SRV records list it. */
export interface PoolMember {
  target: string;
  port: number;
  priority: number;
  weight: number;
  /** SRV names that list this target: 'udp' (_sip._udp), 'tcp' (_sip._tcp), 'tls' (_sips._tcp). */
  transports: ('udp' | 'tcp' | 'tls')[];
  /** A and AAAA addresses of the target, from the zone. */
  addresses: string[];
}

type PairRole = 'primary' | 'backup';

export interface PairMember {
  target: string;
  port: number;
  /** The first A (else AAAA) address of the target. */
  address: string;
  /** Every A/AAAA address of the target (a request from any of them is from this member). */
  addresses: string[];
  role: PairRole;
  /** From the pair's SRV records: _sip._udp, else _sip._tcp, else _sips._tcp ('tls'). */
  transport: 'udp' | 'tcp' | 'tls';
}

export interface HaPair {
  name: string;
  /** [primary, backup]: the lower SRV priority number is the primary. */
  members: readonly [PairMember, PairMember];
}

/** What zone + flags say this site is. */
export interface SiteModel {
  pool: { name: string; members: readonly PoolMember[] };
  self: PoolMember;
  /** Targets answered ahead of the others (local first); always includes self. */
  local: readonly string[];
  pairs: readonly HaPair[];
  servingPair: HaPair;
}

export interface SiteOptions {
  self: string;
  pairs: readonly string[];
  pool?: string;
  servingPair?: string;
  local?: readonly string[];
}
