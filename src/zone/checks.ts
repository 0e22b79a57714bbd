/**
 * zone/checks: what a zone must satisfy beyond syntax, each problem with
 * file:line. Follows named-checkzone where it rejects (SOA count and place,
 * CNAME and other data, NS without address, out-of-zone data, check-names
 * for A/AAAA/MX owners) and is stricter where a broken SIP site would
 * otherwise start: in-zone SRV/MX/CNAME/NAPTR targets that do not exist and
 * CNAME loops are errors. Exact duplicates are dropped silently; an RRset
 * with mixed TTLs gets one TTL the way BIND loads it (warning).
 * May import: shared, zone/types, zone/present, zone/name-index.
 */
import type { ZoneProblem } from '../shared/errors.js';
import { isInZone } from '../shared/names.js';
import type { RR } from './types.js';
import { formatRdata } from './present.js';
import { indexNames, type NamedRecords } from './name-index.js';

const at = (rr: RR, message: string): ZoneProblem => ({ file: rr.file, line: rr.line, message });
/** Labels of letters/digits/hyphen, not starting or ending with a hyphen; a leading `*` label allowed. */
const HOSTNAME = /^(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** True when every label is letters/digits/hyphen (a leading `*` label allowed). */
function isHostname(name: string): boolean {
  return HOSTNAME.test(name);
}

/** One bit a type, for the set of types a name owns. */
const TYPE_BIT: Readonly<Record<RR['type'], number>> = {
  SOA: 1, NS: 2, A: 4, AAAA: 8, CNAME: 16, SRV: 32, NAPTR: 64, TXT: 128, PTR: 256, MX: 512, CAA: 1024,
};
const ADDRESS_BITS = TYPE_BIT.A | TYPE_BIT.AAAA;

/** Distinct records of an RRset compared field by field before a set of their presentation forms is built. */
const COMPARED = 8;

/** Same RDATA (`a` and `b` of one type): as their presentation forms (formatRdata) are equal. */
function sameRdata(a: RR, b: RR): boolean {
  switch (a.type) {
    case 'A': case 'AAAA': return a.data.address === (b.data as typeof a.data).address;
    case 'NS': return a.data.host === (b.data as typeof a.data).host;
    case 'CNAME': case 'PTR': return a.data.target === (b.data as typeof a.data).target;
    case 'MX': {
      const d = b.data as typeof a.data;
      return a.data.preference === d.preference && a.data.exchange === d.exchange;
    }
    case 'SRV': {
      const d = b.data as typeof a.data;
      return a.data.priority === d.priority && a.data.weight === d.weight && a.data.port === d.port && a.data.target === d.target;
    }
    case 'NAPTR': {
      const d = b.data as typeof a.data;
      return a.data.order === d.order && a.data.preference === d.preference && a.data.flags === d.flags &&
        a.data.service === d.service && a.data.regexp === d.regexp && a.data.replacement === d.replacement;
    }
    case 'TXT': {
      const d = b.data as typeof a.data;
      return a.data.strings.length === d.strings.length && a.data.strings.every((s, i) => s.equals(d.strings[i]!));
    }
    case 'CAA': {
      const d = b.data as typeof a.data;
      return a.data.flags === d.flags && a.data.tag === d.tag && a.data.value.equals(d.value);
    }
    case 'SOA': {
      const d = b.data as typeof a.data;
      return a.data.mname === d.mname && a.data.rname === d.rname && a.data.serial === d.serial && a.data.refresh === d.refresh &&
        a.data.retry === d.retry && a.data.expire === d.expire && a.data.minimum === d.minimum;
    }
  }
}

/**
 * The records a pass keeps of a list, with their owners' and targets' numbers:
 * the list and numbers it was given until the first record is dropped (most
 * zones drop none, and a 200k-record copy is not free), copies from then on.
 */
class KeptRecords {
  private copy: RR[] | undefined;
  private copyIds: number[] | undefined;
  private copyTargets: number[] | undefined;

  constructor(
    private readonly all: readonly RR[],
    private readonly ids: ArrayLike<number>,
    private readonly targets: ArrayLike<number> | undefined,
  ) {}

  /** Record `i` of the list is kept (call in order). */
  keep(i: number): void {
    if (this.copy === undefined) return;
    this.copy.push(this.all[i]!);
    this.copyIds!.push(this.ids[i]!);
    this.copyTargets?.push(this.targets![i]!);
  }

  /** Record `i` is dropped: the ones before it were all kept. */
  drop(i: number): void {
    if (this.copy !== undefined) return;
    const { ids, targets } = this;
    this.copy = this.all.slice(0, i);
    this.copyIds = Array.from({ length: i }, (_, k) => ids[k]!);
    this.copyTargets = targets ? Array.from({ length: i }, (_, k) => targets[k]!) : undefined;
  }

  get records(): readonly RR[] {
    return this.copy ?? this.all;
  }

  get recordIds(): ArrayLike<number> {
    return this.copyIds ?? this.ids;
  }

  get recordTargets(): ArrayLike<number> | undefined {
    return this.copy !== undefined ? this.copyTargets : this.targets;
  }
}

/**
 * Drop exact duplicates; give each RRset one TTL as BIND does: within a run
 * of records of one owner the first TTL wins (warning), across runs the last.
 * An RRset's records are compared only once it has a second record (most
 * have one): field by field while it has a few, then in presentation form. `named`: the owners' numbers (the parser's),
 * else they are numbered here; the result's `ids` are those of its records. When nothing is dropped or changed the
 * result holds the very arrays it was given (never modified).
 */
export function normalizeRecords(records: readonly RR[], named: Omit<NamedRecords, 'records'> = indexNames(records)):
  { records: readonly RR[]; ids: ArrayLike<number>; targets: ArrayLike<number> | undefined; warnings: ZoneProblem[] } {
  const warnings: ZoneProblem[] = [];
  const ids = named.ids;
  // The RRsets, by number, in typed arrays sized for the worst case (one RRset a record) rather
  // than one object each: type (TYPE_BIT), TTL so far, the run of its owner's records it was last
  // seen in and that run's TTL, its first record, the next RRset of the owner (-1: none), and the
  // presentation forms of its records once it has a second one.
  const n = records.length;
  const setType = new Uint16Array(n);
  const setTtl = new Uint32Array(n);
  const setRun = new Uint32Array(n);
  const setRunTtl = new Uint32Array(n);
  const setFirst = new Uint32Array(n);
  const setNext = new Int32Array(n);
  let sets = 0;
  const seen = new Map<number, RR[] | Set<string>>();
  /** The first RRset of each owner, by owner number; the others follow through setNext (a few per name). */
  const firstSet = new Int32Array(named.index.names.length).fill(-1);
  const targets = named.targets;
  const out = new KeptRecords(records, ids, targets);
  let kept = 0;
  /** The RRset of each record kept. */
  const setOf = new Uint32Array(n);
  let runOwner = -1;
  let run = 0;
  let atName = -1;
  for (let i = 0; i < n; i++) {
    const rr = records[i]!;
    const id = ids[i]!;
    if (id !== runOwner) {
      runOwner = id;
      run++;
      atName = firstSet[id]!;
    }
    const bit = TYPE_BIT[rr.type];
    let set = atName;
    while (set >= 0 && setType[set] !== bit) set = setNext[set]!;
    if (set < 0) {
      set = sets++;
      setType[set] = bit;
      setTtl[set] = rr.ttl;
      setRun[set] = run;
      setRunTtl[set] = rr.ttl;
      setFirst[set] = i;
      setNext[set] = atName;
      atName = set;
      firstSet[id] = set;
      setOf[kept++] = set;
      out.keep(i);
      continue;
    }
    if (setRun[set] !== run) {
      setRun[set] = run;
      setRunTtl[set] = rr.ttl;
    } else if (setRunTtl[set] !== rr.ttl) {
      warnings.push(at(rr, `TTL set to prior TTL (${setRunTtl[set]})`));
    }
    setTtl[set] = setRunTtl[set]!;
    // A few distinct records are compared field by field; more, by their presentation form in a set.
    const known = seen.get(set) ?? [records[setFirst[set]!]!];
    let dup: boolean;
    if (Array.isArray(known)) {
      dup = known.some((k) => sameRdata(k, rr));
      if (!dup) {
        known.push(rr);
        seen.set(set, known.length < COMPARED ? known : new Set(known.map(formatRdata)));
      }
    } else {
      const key = formatRdata(rr);
      dup = known.has(key);
      if (!dup) known.add(key);
    }
    if (dup) {
      out.drop(i);
      continue;
    }
    setOf[kept++] = set;
    out.keep(i);
  }
  return { records: settleTtls(out.records, setOf, setTtl), ids: out.recordIds, targets: out.recordTargets, warnings };
}

/**
 * The records with each one's RRset's TTL (`setTtl` by RRset number, `setOf`
 * by record): `records` itself when every TTL is already its RRset's, else a
 * copy with the records that change replaced.
 */
function settleTtls(records: readonly RR[], setOf: Uint32Array, setTtl: Uint32Array): readonly RR[] {
  let out: RR[] | undefined;
  for (let i = 0; i < records.length; i++) {
    const rr = records[i]!;
    const ttl = setTtl[setOf[i]!]!;
    if (ttl !== rr.ttl) (out ??= records.slice())[i] = { ...rr, ttl };
  }
  return out ?? records;
}

/**
 * The in-zone records of a zone, indexed by owner number; gathered in one
 * pass so that the checks need not read every record again. Each check is a
 * function of its own: one loop a function is compiled (and optimized) once,
 * where one long function was compiled again at each loop it reached.
 */
interface ZoneIndex {
  origin: string;
  names: readonly string[];
  numbers: ReadonlyMap<string, number>;
  /** The in-zone records and their owners' numbers: the records given, unless some lie outside. */
  inZone: readonly RR[];
  inIds: ArrayLike<number>;
  /** The target of each in-zone record by number, when the caller had them. */
  inTargets: ArrayLike<number> | undefined;
  /** The records of each name (by number) as a list through `nextOf`, in order; the names in order of their first record. */
  head: Int32Array;
  nextOf: Int32Array;
  order: number[];
  /** Per name number, the types it owns (TYPE_BIT). */
  typesOf: Uint16Array;
  cuts: Set<string>;
  soas: RR[];
  cnames: RR[];
}

/** Index the records inside `origin`; one error for each record outside it. */
function gather(origin: string, records: readonly RR[], named: Omit<NamedRecords, 'records'>, errors: ZoneProblem[]): ZoneIndex {
  const { names, ids: numbers } = named.index;
  /** Per name number: 1 inside the zone, 2 outside, 0 not asked yet. */
  const inside = new Uint8Array(names.length);
  const kept = new KeptRecords(records, named.ids, named.targets);
  const ix: ZoneIndex = {
    origin, names, numbers, inZone: records, inIds: named.ids, inTargets: named.targets,
    head: new Int32Array(names.length).fill(-1), nextOf: new Int32Array(records.length), order: [], typesOf: new Uint16Array(names.length),
    cuts: new Set<string>(), soas: [], cnames: [],
  };
  const { head, nextOf, order, typesOf } = ix;
  const tail = new Int32Array(names.length);
  let j = 0;
  for (let i = 0; i < records.length; i++) {
    const rr = records[i]!;
    const id = named.ids[i]!;
    if (inside[id] === 0) inside[id] = isInZone(rr.name, origin) ? 1 : 2;
    if (inside[id] === 2) {
      errors.push(at(rr, `${rr.name} is outside the zone ${origin}`));
      kept.drop(i);
      continue;
    }
    kept.keep(i);
    nextOf[j] = -1;
    if (head[id] === -1) {
      head[id] = j;
      order.push(id);
    } else nextOf[tail[id]!] = j;
    tail[id] = j++;
    typesOf[id] |= TYPE_BIT[rr.type];
    if (rr.type === 'NS' && rr.name !== origin) ix.cuts.add(rr.name);
    else if (rr.type === 'SOA') ix.soas.push(rr);
    else if (rr.type === 'CNAME') ix.cnames.push(rr);
  }
  ix.inZone = kept.records;
  ix.inIds = kept.recordIds;
  ix.inTargets = kept.recordTargets;
  return ix;
}

/** The number of a name that owns records in the zone, else -1. */
function owned(ix: ZoneIndex, name: string): number {
  const id = ix.numbers.get(name);
  return id === undefined || ix.head[id] === -1 ? -1 : id;
}

function first(ix: ZoneIndex, id: number, type: RR['type']): RR | undefined {
  if (id < 0) return undefined;
  for (let j = ix.head[id]!; j >= 0; j = ix.nextOf[j]!) if (ix.inZone[j]!.type === type) return ix.inZone[j];
  return undefined;
}

const hasAddress = (ix: ZoneIndex, id: number): boolean => id >= 0 && (ix.typesOf[id]! & ADDRESS_BITS) !== 0;
const hasCname = (ix: ZoneIndex, id: number): boolean => id >= 0 && (ix.typesOf[id]! & TYPE_BIT.CNAME) !== 0;

/** Zone cuts below the apex (`cuts`): names at or under them are not this zone's data (except glue). */
function underCut(ix: ZoneIndex, name: string): boolean {
  if (ix.cuts.size === 0) return false;
  for (let n = name; n !== ix.origin && n.includes('.'); n = n.slice(n.indexOf('.') + 1)) if (ix.cuts.has(n)) return true;
  return false;
}

function checkApex(ix: ZoneIndex, mainFile: string, errors: ZoneProblem[]): void {
  const { origin, soas } = ix;
  const apexSoa = soas.filter((r) => r.name === origin);
  for (const s of soas) if (s.name !== origin) errors.push(at(s, `SOA record not at top of zone (${s.name})`));
  if (apexSoa.length === 0) errors.push({ file: mainFile, line: 1, message: `zone ${origin} has no SOA record at its apex` });
  for (const s of apexSoa.slice(1)) errors.push(at(s, `${origin}: more than one SOA record (multiple RRs of singleton type)`));
  if (!first(ix, owned(ix, origin), 'NS')) errors.push({ file: mainFile, line: apexSoa[0]?.line ?? 1, message: `zone ${origin} has no NS records at its apex` });
}

/** CNAME and other data at one name; more than one CNAME at a name. */
function checkCnameOwners(ix: ZoneIndex, errors: ZoneProblem[]): void {
  if (ix.cnames.length === 0) return;
  const { head, nextOf, inZone, names } = ix;
  for (const id of ix.order) {
    if (!hasCname(ix, id)) continue;
    const list: RR[] = [];
    for (let j = head[id]!; j >= 0; j = nextOf[j]!) list.push(inZone[j]!);
    const name = names[id]!;
    const own = list.filter((r) => r.type === 'CNAME');
    if (own.length !== list.length) {
      const late = list.reduce((a, b) => (b.line > a.line && b.file === a.file ? b : a));
      errors.push(at(late, `${name}: CNAME and other data`));
    }
    for (const c of own.slice(1)) errors.push(at(c, `${name}: more than one CNAME record`));
  }
}

function checkCnameLoops(ix: ZoneIndex, errors: ZoneProblem[]): void {
  const { origin } = ix;
  const looped = new Set<string>();
  for (const rr of ix.cnames) {
    if (rr.type === 'CNAME' && !looped.has(rr.name)) {
      const path: string[] = [rr.name];
      for (let t = rr.data.target; isInZone(t, origin); ) {
        const next = first(ix, owned(ix, t), 'CNAME');
        if (!next || next.type !== 'CNAME') break;
        if (path.includes(t)) {
          for (const n of path) looped.add(n);
          errors.push(at(rr, `CNAME loop: ${[...path, t].join(' -> ')}`));
          break;
        }
        path.push(t);
        t = next.data.target;
      }
    }
  }
}

/** Per record: check-names of A/AAAA/MX owners, and the target of NS, CNAME, NAPTR, SRV and MX. */
function checkRecords(ix: ZoneIndex, errors: ZoneProblem[], warnings: ZoneProblem[]): void {
  const { origin, inZone, inIds, inTargets, head } = ix;
  /** Per name number: 1 a host name (check-names), 2 not, 0 not asked yet. */
  const hostname = new Uint8Array(ix.names.length);
  for (let j = 0; j < inZone.length; j++) {
    const rr = inZone[j]!;
    if (rr.type === 'A' || rr.type === 'AAAA' || rr.type === 'MX') {
      const id = inIds[j]!;
      if (hostname[id] === 0) hostname[id] = isHostname(rr.name) ? 1 : 2;
      if (hostname[id] === 2) errors.push(at(rr, `${rr.name}: bad owner name for ${rr.type} (check-names: letters, digits and hyphens only)`));
    }
    const target = refTarget(rr);
    if (target === undefined || target === '') continue;
    let tid: number;
    if (inTargets) {
      tid = inTargets[j]!;
      if (tid >= 0 && head[tid] === -1) tid = -1;
    } else tid = owned(ix, target);
    if (tid < 0 && !isInZone(target, origin)) continue;
    if (rr.type === 'NS') {
      if (!hasAddress(ix, tid)) errors.push(at(rr, `${rr.name}/${rr.type} '${target}' has no address records (A or AAAA)`));
      continue;
    }
    if (underCut(ix, target)) continue;
    if (rr.type === 'CNAME' || rr.type === 'NAPTR') {
      if (tid < 0) errors.push(at(rr, `${rr.name}/${rr.type} '${target}': target does not exist in the zone`));
    } else if (hasCname(ix, tid)) {
      warnings.push(at(rr, `${rr.name}/${rr.type} '${target}' is a CNAME (illegal)`));
    } else if (!hasAddress(ix, tid)) {
      errors.push(at(rr, `${rr.name}/${rr.type} '${target}' has no address records (A or AAAA)`));
    }
  }
}

/**
 * Every semantic problem of one zone's (normalized) records. `named`: the
 * owners' numbers (normalizeRecords's), else they are numbered here.
 */
export function checkZone(origin: string, mainFile: string, records: readonly RR[], named: Omit<NamedRecords, 'records'> = indexNames(records)):
  { errors: ZoneProblem[]; warnings: ZoneProblem[] } {
  const errors: ZoneProblem[] = [];
  const warnings: ZoneProblem[] = [];
  const ix = gather(origin, records, named, errors);
  checkApex(ix, mainFile, errors);
  checkCnameOwners(ix, errors);
  checkCnameLoops(ix, errors);
  checkRecords(ix, errors, warnings);
  return { errors, warnings };
}

function refTarget(rr: RR): string | undefined {
  switch (rr.type) {
    case 'NS': return rr.data.host;
    case 'CNAME': return rr.data.target;
    case 'SRV': return rr.data.target;
    case 'MX': return rr.data.exchange;
    case 'NAPTR': return rr.data.replacement;
    default: return undefined;
  }
}
