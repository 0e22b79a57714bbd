/**
 * zone/checks: what a zone must satisfy beyond syntax, each problem with
 * file:line. Follows named-checkzone where it rejects (SOA count and place,
 * CNAME and other data, NS without address, out-of-zone data, check-names
 * for A/AAAA/MX owners) and is stricter where a broken SIP site would
 * otherwise start: in-zone SRV/MX/CNAME/NAPTR targets that do not exist and
 * CNAME loops are errors. Exact duplicates are dropped silently; an RRset
 * with mixed TTLs gets one TTL the way BIND loads it (warning).
 * May import: shared, zone/types, zone/present.
 */
import type { ZoneProblem } from '../shared/errors.js';
import { isInZone } from '../shared/names.js';
import type { RR } from './types.js';
import { formatRdata } from './present.js';

const at = (rr: RR, message: string): ZoneProblem => ({ file: rr.file, line: rr.line, message });
/** Labels of letters/digits/hyphen, not starting or ending with a hyphen; a leading `*` label allowed. */
const HOSTNAME = /^(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** True when every label is letters/digits/hyphen (a leading `*` label allowed). */
function isHostname(name: string): boolean {
  return HOSTNAME.test(name);
}

/**
 * Drop exact duplicates; give each RRset one TTL as BIND does: within a run
 * of records of one owner the first TTL wins (warning), across runs the last.
 * An RRset's records are compared in presentation form only once it has a
 * second record (most have one).
 */
export function normalizeRecords(records: readonly RR[]): { records: RR[]; warnings: ZoneProblem[] } {
  /** One RRset: its TTL so far, the run of its owner's records it was last seen in, the next RRset of the owner. */
  interface RRset { type: RR['type']; ttl: number; run: number; runTtl: number; first: RR; seen?: Set<string>; next?: RRset }
  const warnings: ZoneProblem[] = [];
  /** The first RRset of each owner; the others follow through `next` (a few per name). */
  const sets = new Map<string, RRset>();
  const out: RR[] = [];
  const setOf: RRset[] = [];
  let runOwner: string | undefined;
  let run = 0;
  let atName: RRset | undefined;
  for (const rr of records) {
    if (rr.name !== runOwner) {
      runOwner = rr.name;
      run++;
      atName = sets.get(rr.name);
    }
    let set = atName;
    while (set && set.type !== rr.type) set = set.next;
    if (!set) {
      set = { type: rr.type, ttl: rr.ttl, run, runTtl: rr.ttl, first: rr, next: atName };
      atName = set;
      sets.set(rr.name, set);
      out.push(rr);
      setOf.push(set);
      continue;
    }
    if (set.run !== run) {
      set.run = run;
      set.runTtl = rr.ttl;
    } else if (set.runTtl !== rr.ttl) {
      warnings.push(at(rr, `TTL set to prior TTL (${set.runTtl})`));
    }
    set.ttl = set.runTtl;
    set.seen ??= new Set([formatRdata(set.first)]);
    const key = formatRdata(rr);
    if (set.seen.has(key)) continue;
    set.seen.add(key);
    out.push(rr);
    setOf.push(set);
  }
  for (let i = 0; i < out.length; i++) {
    const rr = out[i]!;
    const ttl = setOf[i]!.ttl;
    if (ttl !== rr.ttl) out[i] = { ...rr, ttl };
  }
  return { records: out, warnings };
}

/** Every semantic problem of one zone's (normalized) records. */
export function checkZone(origin: string, mainFile: string, records: readonly RR[]): { errors: ZoneProblem[]; warnings: ZoneProblem[] } {
  const errors: ZoneProblem[] = [];
  const warnings: ZoneProblem[] = [];
  const inZone: RR[] = [];
  for (const rr of records) {
    if (!isInZone(rr.name, origin)) errors.push(at(rr, `${rr.name} is outside the zone ${origin}`));
    else inZone.push(rr);
  }
  const byName = new Map<string, RR[]>();
  for (const rr of inZone) {
    const list = byName.get(rr.name);
    if (list) list.push(rr);
    else byName.set(rr.name, [rr]);
  }
  const has = (name: string, type: RR['type']): boolean => {
    const list = byName.get(name);
    if (list) for (const r of list) if (r.type === type) return true;
    return false;
  };
  const hasAddress = (name: string): boolean => has(name, 'A') || has(name, 'AAAA');

  // Zone cuts below the apex: names at or under them are not this zone's data (except glue).
  const cuts = new Set<string>();
  for (const rr of inZone) if (rr.type === 'NS' && rr.name !== origin) cuts.add(rr.name);
  const underCut = (name: string): boolean => {
    if (cuts.size === 0) return false;
    for (let n = name; n !== origin && n.includes('.'); n = n.slice(n.indexOf('.') + 1)) if (cuts.has(n)) return true;
    return false;
  };

  const soas: RR[] = [];
  for (const rr of inZone) if (rr.type === 'SOA') soas.push(rr);
  const apexSoa = soas.filter((r) => r.name === origin);
  for (const s of soas) if (s.name !== origin) errors.push(at(s, `SOA record not at top of zone (${s.name})`));
  if (apexSoa.length === 0) errors.push({ file: mainFile, line: 1, message: `zone ${origin} has no SOA record at its apex` });
  for (const s of apexSoa.slice(1)) errors.push(at(s, `${origin}: more than one SOA record (multiple RRs of singleton type)`));
  if (!has(origin, 'NS')) errors.push({ file: mainFile, line: apexSoa[0]?.line ?? 1, message: `zone ${origin} has no NS records at its apex` });

  for (const [name, list] of byName) {
    if (!list.some((r) => r.type === 'CNAME')) continue;
    const cnames = list.filter((r) => r.type === 'CNAME');
    if (cnames.length !== list.length) {
      const late = list.reduce((a, b) => (b.line > a.line && b.file === a.file ? b : a));
      errors.push(at(late, `${name}: CNAME and other data`));
    }
    for (const c of cnames.slice(1)) errors.push(at(c, `${name}: more than one CNAME record`));
  }

  const cnameOf = (n: string): RR | undefined => byName.get(n)?.find((r) => r.type === 'CNAME');
  const looped = new Set<string>();
  for (const rr of inZone) {
    if (rr.type === 'CNAME' && !looped.has(rr.name)) {
      const path: string[] = [rr.name];
      for (let t = rr.data.target; isInZone(t, origin); ) {
        const next = cnameOf(t);
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

  for (const rr of inZone) {
    if ((rr.type === 'A' || rr.type === 'AAAA' || rr.type === 'MX') && !isHostname(rr.name)) {
      errors.push(at(rr, `${rr.name}: bad owner name for ${rr.type} (check-names: letters, digits and hyphens only)`));
    }
    const target = refTarget(rr);
    if (target === undefined || target === '' || !isInZone(target, origin)) continue;
    const what = `${rr.name}/${rr.type} '${target}'`;
    if (rr.type === 'NS') {
      if (!hasAddress(target)) errors.push(at(rr, `${what} has no address records (A or AAAA)`));
      continue;
    }
    if (underCut(target)) continue;
    if (rr.type === 'CNAME' || rr.type === 'NAPTR') {
      if (!byName.has(target)) errors.push(at(rr, `${what}: target does not exist in the zone`));
    } else if (cnameOf(target)) {
      warnings.push(at(rr, `${what} is a CNAME (illegal)`));
    } else if (!hasAddress(target)) {
      errors.push(at(rr, `${what} has no address records (A or AAAA)`));
    }
  }
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
