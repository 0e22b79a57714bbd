/**
 * zone/packed: the zone snapshot in a dense form — a few typed arrays and two
 * long strings instead of one object per record — so that a 200k-record zone
 * costs tens of megabytes, and a snapshot built in a worker thread crosses to
 * the main thread as a handful of transferable buffers (adopting it is O(1)).
 *
 * Layout (PackedZoneData): owner names (and empty non-terminals) concatenated
 * in `names` with offsets, found through an open-addressing hash table
 * (`slots`); each name's records listed in `recIdx[nameRec[k]..nameRec[k+1])`
 * in file order; per record its type code, TTL, file, line, owner, and its
 * RDATA as text in `rdata`. Records are decoded into RR objects only when
 * asked for (lookup, recordsAt, records): zone reads happen when answers are
 * built, never per query.
 *
 * May import: shared, zone/types, zone/name-index.
 */
import { createHash } from 'node:crypto';
import { ZoneError } from '../shared/errors.js';
import type { NameSet, RData, RR, RRType, RRsetOf, Zone } from './types.js';
import { RR_TYPE_CODES } from './types.js';
import { indexNames, type NamedRecords } from './name-index.js';

/** Everything a PackedZone holds: plain strings and typed arrays (structured-clonable, buffers transferable). */
export interface PackedZoneData {
  origin: string;
  files: string[];
  /** The files records name (`files`, then any other a record came from). */
  recFiles: string[];
  /** sha256 of the names and records in file order, the SOA serial left out (see Zone.digest). */
  digest: string;
  names: string;
  nameOff: Uint32Array;
  slots: Int32Array;
  nameRec: Uint32Array;
  recIdx: Uint32Array;
  rtype: Uint16Array;
  ttl: Uint32Array;
  line: Uint32Array;
  file: Uint16Array;
  owner: Uint32Array;
  /** Per record, its RDATA as text (encodeRdata). */
  rdata: string;
  rdOff: Uint32Array;
  /** Index of the apex SOA record. */
  soa: number;
}

const TYPE_BY_CODE = new Map<number, RRType>(Object.entries(RR_TYPE_CODES).map(([t, c]) => [c, t as RRType]));
const NONE: readonly never[] = Object.freeze([]);

/** FNV-1a over the UTF-16 code units of a canonical name. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A character JSON.stringify escapes. */
// eslint-disable-next-line no-control-regex -- the control characters are among those escaped
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `s` as a JSON string, as JSON.stringify writes it; without a character to
 * escape, no call out. A regular expression rather than a loop over the
 * characters: inlined four times for NAPTR, a loop cost more to compile
 * than it saved at 20k records.
 */
function jsonString(s: string): string {
  return JSON_ESCAPED.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/**
 * RDATA as text, per type: names and numbers space-separated (a canonical
 * name has no blank: values.ts allows \x21-\x7e only), byte strings in hex,
 * the types with free-form strings as JSON (NAPTR's written here field by
 * field, the bytes JSON.stringify would give: one a record is too many calls).
 */
function encodeRdata(rd: RData): string {
  switch (rd.type) {
    case 'A': case 'AAAA': return rd.data.address;
    case 'NS': return rd.data.host;
    case 'CNAME': case 'PTR': return rd.data.target;
    case 'MX': return `${rd.data.preference} ${rd.data.exchange}`;
    case 'SRV': return `${rd.data.priority} ${rd.data.weight} ${rd.data.port} ${rd.data.target}`;
    case 'TXT': return rd.data.strings.map((b) => b.toString('hex')).join(' ');
    case 'CAA': return `${rd.data.flags} ${rd.data.value.toString('hex')} ${rd.data.tag}`;
    case 'NAPTR': {
      const d = rd.data;
      return `{"order":${d.order},"preference":${d.preference},"flags":${jsonString(d.flags)},"service":${jsonString(d.service)},` +
        `"regexp":${jsonString(d.regexp)},"replacement":${jsonString(d.replacement)}}`;
    }
    case 'SOA': return JSON.stringify(rd.data);
  }
}

function decodeRdata(type: RRType, t: string): RData['data'] {
  switch (type) {
    case 'A': case 'AAAA': return { address: t };
    case 'NS': return { host: t };
    case 'CNAME': case 'PTR': return { target: t };
    case 'MX': {
      const sp = t.indexOf(' ');
      return { preference: Number(t.slice(0, sp)), exchange: t.slice(sp + 1) };
    }
    case 'SRV': {
      const [p, w, port, target] = t.split(' ');
      return { priority: Number(p), weight: Number(w), port: Number(port), target: target! };
    }
    case 'TXT': return { strings: t.split(' ').map((h) => Buffer.from(h, 'hex')) };
    case 'CAA': {
      const [flags, value, tag] = t.split(' ');
      return { flags: Number(flags), tag: tag!, value: Buffer.from(value!, 'hex') };
    }
    case 'SOA': case 'NAPTR': return JSON.parse(t) as RData['data'];
  }
}

/** Records whose RDATA texts are joined together before the next (see packZone). */
const RDATA_BLOCK = 512;

/** `name` is among the last eight of `list`. */
function placedLately(list: readonly string[], name: string): boolean {
  for (let r = list.length - 1; r >= 0 && r >= list.length - 8; r--) if (list[r] === name) return true;
  return false;
}

/** The per-record columns of a zone and its names in order, before the name index is built. */
interface Columns {
  nameList: string[];
  counts: number[];
  owner: Uint32Array;
  rtype: Uint16Array;
  ttl: Uint32Array;
  line: Uint32Array;
  file: Uint16Array;
  rdOff: Uint32Array;
  rdata: string;
  allFiles: string[];
  /** Each SOA's index and its RDATA text with serial 0 (for the digest). */
  soaJson: [number, string][];
  soa: number;
}

/**
 * Pack checked records (every one inside `origin`, exactly one SOA at the
 * apex). `named`: the owners' numbers (the checks'), else they are numbered
 * here. Each pass is a function of its own: one loop a function is compiled
 * once, where one long function was compiled again at each loop it reached.
 */
export function packZone(origin: string, records: readonly RR[], files: readonly string[], named: Pick<NamedRecords, 'ids' | 'index'> = indexNames(records)): PackedZoneData {
  const c = columns(origin, records, files, named);
  if (c.soa < 0) throw new ZoneError([{ file: files[0] ?? '', line: 0, message: `zone ${origin}: no SOA record at the apex` }]);
  const digest = digestOf(c);
  const { nameOff, nameRec, recIdx, slots } = nameIndex(c);
  return {
    origin, files: [...files], recFiles: c.allFiles, digest,
    names: c.nameList.join(''), nameOff, slots, nameRec, recIdx, rtype: c.rtype, ttl: c.ttl, line: c.line, file: c.file,
    owner: c.owner, rdata: c.rdata, rdOff: c.rdOff, soa: c.soa,
  };
}

/** The records as columns; the names (owners, then the empty non-terminals above them) in order of first use. */
function columns(origin: string, records: readonly RR[], files: readonly string[], named: Pick<NamedRecords, 'ids' | 'index'>): Columns {
  const fileIdx = new Map<string, number>(files.map((f, i) => [f, i]));
  const allFiles = [...files];
  const { ids, index } = named;
  /** The apex's number, -1 when no record names it. */
  const apex = index.ids.get(origin) ?? -1;
  /** Per name number, its place in nameList (-1: not yet). */
  const place = new Int32Array(index.names.length).fill(-1);
  /** The places of empty non-terminals that are no name of the index. */
  const entPlace = new Map<string, number>();
  const nameList: string[] = [];
  const counts: number[] = [];
  const n = records.length;
  const owner = new Uint32Array(n);
  const rtype = new Uint16Array(n);
  const ttl = new Uint32Array(n);
  const line = new Uint32Array(n);
  const file = new Uint16Array(n);
  const rdOff = new Uint32Array(n + 1);
  /**
   * RDATA texts are joined a block at a time (one flat string a block): the
   * short texts die young instead of all living until the end.
   */
  const chunks: string[] = [];
  const block: string[] = [];
  const soaJson: [number, string][] = [];
  let soa = -1;
  let off = 0;
  let lastFile: string | undefined;
  let lastF = 0;
  for (let i = 0; i < n; i++) {
    const rr = records[i]!;
    let k = place[ids[i]!]!;
    if (k < 0) {
      k = nameList.length;
      place[ids[i]!] = k;
      nameList.push(rr.name);
      counts.push(0);
      // Every name between the owner and the apex exists (empty non-terminals).
      for (let p = rr.name; p !== origin && p.includes('.'); ) {
        const dot = p.indexOf('.');
        if (p.length - dot - 1 === origin.length && apex >= 0) {
          // The parent is the apex (the records lie in the zone): its number is known, no name cut out and looked up.
          if (place[apex]! < 0) {
            place[apex] = nameList.length;
            nameList.push(origin);
            counts.push(0);
          }
          break;
        }
        p = p.slice(dot + 1);
        // Mostly the parent was placed a moment ago: a look at the last few names spares a map lookup.
        if (placedLately(nameList, p)) break;
        const id = index.ids.get(p);
        if (id !== undefined) {
          if (place[id]! >= 0) break;
          place[id] = nameList.length;
        } else {
          if (entPlace.has(p)) break;
          entPlace.set(p, nameList.length);
        }
        nameList.push(p);
        counts.push(0);
      }
    }
    counts[k]!++;
    owner[i] = k;
    rtype[i] = RR_TYPE_CODES[rr.type];
    ttl[i] = rr.ttl;
    line[i] = rr.line;
    if (rr.file !== lastFile) {
      let f = fileIdx.get(rr.file);
      if (f === undefined) {
        f = allFiles.length;
        fileIdx.set(rr.file, f);
        allFiles.push(rr.file);
      }
      lastFile = rr.file;
      lastF = f;
    }
    file[i] = lastF;
    const j = encodeRdata(rr);
    block.push(j);
    if (block.length === RDATA_BLOCK) {
      chunks.push(block.join(''));
      block.length = 0;
    }
    off += j.length;
    rdOff[i + 1] = off;
    if (rr.type === 'SOA') {
      if (rr.name === origin && soa < 0) soa = i;
      // The digest covers what is served: the SOA serial is left out.
      soaJson.push([i, encodeRdata({ type: 'SOA', data: { ...rr.data, serial: 0 } })]);
    }
  }
  chunks.push(block.join(''));
  return { nameList, counts, owner, rtype, ttl, line, file, rdOff, rdata: chunks.join(''), allFiles, soaJson, soa };
}

/** The digest: names, owners, types, TTLs and RDATA (each SOA's with serial 0). */
function digestOf(c: Columns): string {
  const { rdOff, rdata, soaJson } = c;
  const n = c.owner.length;
  const hash = createHash('sha256').update(c.nameList.join('\n'));
  const lens = new Uint32Array(n);
  for (let i = 0; i < n; i++) lens[i] = rdOff[i + 1]! - rdOff[i]!;
  for (const [i, zeroed] of soaJson) lens[i] = zeroed.length;
  for (const a of [c.owner, c.rtype, c.ttl, lens]) hash.update(a);
  let from = 0;
  for (const [i, zeroed] of soaJson) {
    hash.update(rdata.slice(from, rdOff[i])).update(zeroed);
    from = rdOff[i + 1]!;
  }
  hash.update(rdata.slice(from));
  return hash.digest('hex');
}

/** Name offsets, each name's records (nameRec, recIdx) and the hash table of names (slots). */
function nameIndex(c: Columns): { nameOff: Uint32Array; nameRec: Uint32Array; recIdx: Uint32Array; slots: Int32Array } {
  const { nameList, counts, owner } = c;
  const n = owner.length;
  const m = nameList.length;
  const nameOff = new Uint32Array(m + 1);
  const nameRec = new Uint32Array(m + 1);
  for (let k = 0; k < m; k++) {
    nameOff[k + 1] = nameOff[k]! + nameList[k]!.length;
    nameRec[k + 1] = nameRec[k]! + counts[k]!;
  }
  const fill = nameRec.slice(0, m);
  const recIdx = new Uint32Array(n);
  for (let i = 0; i < n; i++) recIdx[fill[owner[i]!]!++] = i;
  let size = 16;
  while (size < m * 2) size *= 2;
  const slots = new Int32Array(size).fill(-1);
  for (let k = 0; k < m; k++) {
    let s = hashString(nameList[k]!) & (size - 1);
    while (slots[s] !== -1) s = (s + 1) & (size - 1);
    slots[s] = k;
  }
  return { nameOff, nameRec, recIdx, slots };
}

/** The ArrayBuffers of `d`, for postMessage's transfer list. */
export function packedBuffers(d: PackedZoneData): ArrayBuffer[] {
  return [d.nameOff, d.slots, d.nameRec, d.recIdx, d.rtype, d.ttl, d.line, d.file, d.owner, d.rdOff].map((a) => a.buffer as ArrayBuffer);
}

export class PackedZone implements Zone {
  readonly origin: string;
  readonly files: readonly string[];
  readonly digest: string;
  readonly soa: RRsetOf<'SOA'>;
  readonly names: NameSet;
  private readonly mask: number;

  constructor(readonly data: PackedZoneData) {
    const d = data;
    this.origin = d.origin;
    this.files = Object.freeze([...d.files]);
    this.digest = d.digest;
    this.mask = d.slots.length - 1;
    this.soa = this.decode(d.soa) as RRsetOf<'SOA'>;
    const count = d.nameOff.length - 1;
    this.names = {
      size: count,
      has: (name: string) => this.find(name) >= 0,
      [Symbol.iterator]: function* (this: void) {
        for (let k = 0; k < count; k++) yield d.names.slice(d.nameOff[k], d.nameOff[k + 1]);
      },
    };
  }

  /** Number of records. */
  get size(): number {
    return this.data.rtype.length;
  }

  private find(name: string): number {
    const d = this.data;
    for (let s = hashString(name) & this.mask; ; s = (s + 1) & this.mask) {
      const k = d.slots[s]!;
      if (k < 0) return -1;
      const start = d.nameOff[k]!;
      if (d.nameOff[k + 1]! - start === name.length && d.names.startsWith(name, start)) return k;
    }
  }

  private decode(i: number): RR {
    const d = this.data;
    const type = TYPE_BY_CODE.get(d.rtype[i]!)!;
    const data = decodeRdata(type, d.rdata.slice(d.rdOff[i], d.rdOff[i + 1]));
    const k = d.owner[i]!;
    return Object.freeze({
      type, data, name: d.names.slice(d.nameOff[k], d.nameOff[k + 1]), ttl: d.ttl[i]!, file: d.recFiles[d.file[i]!]!, line: d.line[i]!,
    }) as RR;
  }

  lookup<T extends RRType>(name: string, type: T): readonly RRsetOf<T>[] {
    const k = this.find(name);
    if (k < 0) return NONE;
    const d = this.data;
    const code = RR_TYPE_CODES[type];
    let out: RR[] | undefined;
    for (let j = d.nameRec[k]!; j < d.nameRec[k + 1]!; j++) {
      const i = d.recIdx[j]!;
      if (d.rtype[i] === code) (out ??= []).push(this.decode(i));
    }
    return (out ? Object.freeze(out) : NONE) as readonly RRsetOf<T>[];
  }

  recordsAt(name: string): readonly RR[] {
    const k = this.find(name);
    if (k < 0) return NONE;
    const d = this.data;
    const out: RR[] = [];
    for (let j = d.nameRec[k]!; j < d.nameRec[k + 1]!; j++) out.push(this.decode(d.recIdx[j]!));
    return Object.freeze(out);
  }

  /** Every record in file order, decoded on each call (zone transfers, site building). */
  get records(): readonly RR[] {
    const out: RR[] = new Array<RR>(this.size);
    for (let i = 0; i < out.length; i++) out[i] = this.decode(i);
    return Object.freeze(out);
  }

  /** The records of one type, in file order. */
  recordsOfType<T extends RRType>(type: T): RRsetOf<T>[] {
    const code = RR_TYPE_CODES[type];
    const out: RR[] = [];
    for (let i = 0; i < this.data.rtype.length; i++) if (this.data.rtype[i] === code) out.push(this.decode(i));
    return out as RRsetOf<T>[];
  }
}
