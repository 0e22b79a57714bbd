/**
 * dns/wire/message: reading whole DNS messages off the query path — names with
 * compression pointers, and the offsets of every record — for the zone
 * transfer, TSIG and NOTIFY code, which must see the authority and
 * additional sections that the fast query parser (wire.ts) skips.
 *
 * Every reader is bounded (pointer loops, truncation) and returns null on a
 * malformed message instead of throwing.
 *
 * May import: nothing.
 */

/** A name read from a message: canonical text (lower case, no trailing dot) and the offset after it. */
export interface ReadName {
  name: string;
  end: number;
}

/** Read the (possibly compressed) name at `pos`; null when malformed. */
export function readName(buf: Uint8Array, pos: number, len: number = buf.length): ReadName | null {
  const labels: string[] = [];
  let end = -1;
  let total = 1;
  for (let jumps = 0; jumps < 64; ) {
    if (pos >= len) return null;
    const l = buf[pos]!;
    if (l === 0) {
      if (end < 0) end = pos + 1;
      return { name: labels.join('.'), end };
    }
    if ((l & 0xc0) === 0xc0) {
      if (pos + 2 > len) return null;
      if (end < 0) end = pos + 2;
      const target = ((l & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= pos) return null; // pointers go backwards only
      pos = target;
      jumps++;
      continue;
    }
    if ((l & 0xc0) !== 0) return null;
    if (pos + 1 + l > len) return null;
    total += l + 1;
    if (total > 255) return null;
    let label = '';
    for (let i = pos + 1; i <= pos + l; i++) {
      let b = buf[i]!;
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      label += String.fromCharCode(b);
    }
    labels.push(label);
    pos += l + 1;
  }
  return null;
}

/** One record's place in a message. */
interface RecordAt {
  /** Offset of the owner name. */
  start: number;
  name: string;
  type: number;
  klass: number;
  ttl: number;
  /** Offset of RDATA and its length. */
  rdata: number;
  rdlength: number;
  /** Offset after the record. */
  end: number;
}

export interface MessageLayout {
  id: number;
  flags: number;
  opcode: number;
  questions: { name: string; type: number; klass: number; start: number; end: number }[];
  answer: RecordAt[];
  authority: RecordAt[];
  additional: RecordAt[];
}

function readRecord(buf: Uint8Array, pos: number, len: number): RecordAt | null {
  const n = readName(buf, pos, len);
  if (!n || n.end + 10 > len) return null;
  const p = n.end;
  const rdlength = (buf[p + 8]! << 8) | buf[p + 9]!;
  if (p + 10 + rdlength > len) return null;
  return {
    start: pos,
    name: n.name,
    type: (buf[p]! << 8) | buf[p + 1]!,
    klass: (buf[p + 2]! << 8) | buf[p + 3]!,
    ttl: ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0,
    rdata: p + 10,
    rdlength,
    end: p + 10 + rdlength,
  };
}

/** Counts above this are not a message srvproxy needs to read (a transfer query or a NOTIFY answer has a handful). */
const MAX_RECORDS = 64;

/** The layout of the whole message `buf[0..len)`; null when malformed, with more than `maxRecords` records, or trailing bytes remain. */
export function readMessage(buf: Uint8Array, len: number = buf.length, maxRecords = MAX_RECORDS): MessageLayout | null {
  if (len < 12) return null;
  const counts = [0, 1, 2, 3].map((i) => (buf[4 + 2 * i]! << 8) | buf[5 + 2 * i]!);
  if (counts[0]! > 4 || counts[1]! + counts[2]! + counts[3]! > maxRecords) return null;
  const flags = (buf[2]! << 8) | buf[3]!;
  const out: MessageLayout = {
    id: (buf[0]! << 8) | buf[1]!,
    flags,
    opcode: (flags >> 11) & 0xf,
    questions: [],
    answer: [],
    authority: [],
    additional: [],
  };
  let pos = 12;
  for (let i = 0; i < counts[0]!; i++) {
    const n = readName(buf, pos, len);
    if (!n || n.end + 4 > len) return null;
    out.questions.push({
      name: n.name,
      type: (buf[n.end]! << 8) | buf[n.end + 1]!,
      klass: (buf[n.end + 2]! << 8) | buf[n.end + 3]!,
      start: pos,
      end: n.end + 4,
    });
    pos = n.end + 4;
  }
  const sections = [out.answer, out.authority, out.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const r = readRecord(buf, pos, len);
      if (!r) return null;
      sections[s]!.push(r);
      pos = r.end;
    }
  }
  return pos === len ? out : null;
}

/** The canonical wire form of a name (lower case, uncompressed). */
export function canonicalWire(name: string): Buffer {
  const parts: Buffer[] = [];
  if (name !== '') {
    for (const label of name.toLowerCase().split('.')) {
      const b = Buffer.from(label, 'latin1');
      parts.push(Buffer.from([b.length]), b);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
