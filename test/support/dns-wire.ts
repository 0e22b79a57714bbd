/**
 * test/support/dns-wire: a DNS client's side for tests — build a query, and
 * decode a response into presentation-form lines ("name. TTL IN TYPE rdata")
 * so tests compare sections as text. Independent of src/dns (a second
 * implementation, so a shared bug cannot hide).
 */
import dgram from 'node:dgram';
import net from 'node:net';

const QTYPE: Record<string, number> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MX: 15, TXT: 16, AAAA: 28, SRV: 33, NAPTR: 35, OPT: 41,
  AXFR: 252, ANY: 255, CAA: 257,
};
const TYPE_NAME = new Map(Object.entries(QTYPE).map(([k, v]) => [v, k]));
const RCODE_NAME = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export interface QueryOptions {
  id?: number;
  /** Raw flags word; default RD. */
  flags?: number;
  qclass?: number;
  /** EDNS payload size; undefined = no OPT. */
  edns?: number;
  dnssecOk?: boolean;
  ednsVersion?: number;
}

export function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label === '') continue;
    const b = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function buildQuery(name: string, type: string | number, o: QueryOptions = {}): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(o.id ?? 0x1234, 0);
  h.writeUInt16BE(o.flags ?? 0x0100, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(o.edns !== undefined ? 1 : 0, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(typeof type === 'number' ? type : QTYPE[type]!, 0);
  q.writeUInt16BE(o.qclass ?? 1, 2);
  const parts = [h, encodeName(name), q];
  if (o.edns !== undefined) {
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(o.edns, 3);
    opt[6] = o.ednsVersion ?? 0;
    opt[7] = o.dnssecOk ? 0x80 : 0;
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

export interface Decoded {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  cd: boolean;
  rcode: string;
  /** The question name exactly as it came back (case kept), with a trailing dot. */
  question?: { name: string; type: string; qclass: number };
  answer: string[];
  authority: string[];
  additional: string[];
  opt?: { udpSize: number; extRcode: number; version: number; dnssecOk: boolean };
  size: number;
}

function readName(buf: Buffer, pos: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  for (let jumps = 0; jumps < 64; ) {
    if (pos >= buf.length) throw new Error('name runs past the end');
    const l = buf[pos]!;
    if (l === 0) {
      if (next < 0) next = pos + 1;
      return { name: labels.length ? labels.join('.') + '.' : '.', next };
    }
    if ((l & 0xc0) === 0xc0) {
      if (next < 0) next = pos + 2;
      pos = ((l & 0x3f) << 8) | buf[pos + 1]!;
      jumps++;
      continue;
    }
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + l));
    pos += l + 1;
  }
  throw new Error('pointer loop');
}

function charStrings(buf: Buffer, start: number, end: number): string[] {
  const out: string[] = [];
  for (let p = start; p < end; ) {
    const l = buf[p]!;
    out.push(JSON.stringify(buf.toString('latin1', p + 1, p + 1 + l)));
    p += l + 1;
  }
  return out;
}

function rdataText(buf: Buffer, type: number, p: number, len: number): string {
  switch (type) {
    case 1: return [...buf.subarray(p, p + 4)].join('.');
    case 28: {
      const g: string[] = [];
      for (let i = 0; i < 16; i += 2) g.push(buf.readUInt16BE(p + i).toString(16));
      return net.isIPv6(g.join(':')) ? new URL(`http://[${g.join(':')}]`).hostname.slice(1, -1) : g.join(':');
    }
    case 2: case 5: case 12: return readName(buf, p).name;
    case 15: return `${buf.readUInt16BE(p)} ${readName(buf, p + 2).name}`;
    case 6: {
      const m = readName(buf, p);
      const r = readName(buf, m.next);
      const n = r.next;
      const nums = [0, 4, 8, 12, 16].map((i) => buf.readUInt32BE(n + i));
      return `${m.name} ${r.name} ${nums.join(' ')}`;
    }
    case 33: return `${buf.readUInt16BE(p)} ${buf.readUInt16BE(p + 2)} ${buf.readUInt16BE(p + 4)} ${readName(buf, p + 6).name}`;
    case 35: {
      let o = p + 4;
      const strs: string[] = [];
      for (let i = 0; i < 3; i++) {
        const l = buf[o]!;
        strs.push(JSON.stringify(buf.toString('latin1', o + 1, o + 1 + l)));
        o += l + 1;
      }
      return `${buf.readUInt16BE(p)} ${buf.readUInt16BE(p + 2)} ${strs.join(' ')} ${readName(buf, o).name}`;
    }
    case 16: return charStrings(buf, p, p + len).join(' ');
    default: return `\\# ${len} ${buf.toString('hex', p, p + len)}`;
  }
}

/** Decode a response. Names are lower-cased in sections (not in the question) to compare as text. */
export function decode(buf: Buffer): Decoded {
  const flags = buf.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o));
  let pos = 12;
  const d: Decoded = {
    id: buf.readUInt16BE(0),
    qr: !!(flags & 0x8000), opcode: (flags >> 11) & 0xf, aa: !!(flags & 0x400), tc: !!(flags & 0x200),
    rd: !!(flags & 0x100), ra: !!(flags & 0x80), cd: !!(flags & 0x10),
    rcode: RCODE_NAME[flags & 0xf] ?? String(flags & 0xf),
    answer: [], authority: [], additional: [], size: buf.length,
  };
  for (let i = 0; i < counts[0]!; i++) {
    const n = readName(buf, pos);
    d.question = { name: n.name, type: TYPE_NAME.get(buf.readUInt16BE(n.next)) ?? String(buf.readUInt16BE(n.next)), qclass: buf.readUInt16BE(n.next + 2) };
    pos = n.next + 4;
  }
  const sections = [d.answer, d.authority, d.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const n = readName(buf, pos);
      const type = buf.readUInt16BE(n.next);
      const cls = buf.readUInt16BE(n.next + 2);
      const ttl = buf.readUInt32BE(n.next + 4);
      const len = buf.readUInt16BE(n.next + 8);
      const p = n.next + 10;
      if (p + len > buf.length) throw new Error('rdata runs past the end');
      if (type === 41) {
        d.opt = { udpSize: cls, extRcode: ttl >>> 24, version: (ttl >>> 16) & 0xff, dnssecOk: !!(ttl & 0x8000) };
      } else {
        sections[s]!.push(`${n.name.toLowerCase()} ${ttl} IN ${TYPE_NAME.get(type) ?? 'TYPE' + type} ${rdataText(buf, type, p, len).toLowerCase()}`);
      }
      pos = p + len;
    }
  }
  if (d.opt && d.opt.extRcode) d.rcode = d.opt.extRcode === 1 && (flags & 0xf) === 0 ? 'BADVERS' : d.rcode;
  return d;
}

/** Send one UDP query to 127.0.0.1:port (or `host`) and resolve its response (or null after `timeoutMs`). */
export function udpExchange(port: number, query: Buffer, timeoutMs = 1000, host = '127.0.0.1'): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const done = (v: Buffer | null): void => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on('message', (m) => done(m));
    s.on('error', () => done(null));
    s.send(query, port, host);
  });
}

/** Send queries over one TCP connection and collect `expect` framed responses. */
export function tcpExchange(port: number, queries: Buffer[], expect = queries.length, timeoutMs = 2000, host = '127.0.0.1'): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let acc = Buffer.alloc(0);
    const s = net.connect({ port, host });
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(out);
    };
    const t = setTimeout(done, timeoutMs);
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => {
      s.write(Buffer.concat(queries.map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]))));
    });
    s.on('data', (chunk) => {
      acc = Buffer.concat([acc, chunk]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        out.push(acc.subarray(2, 2 + acc.readUInt16BE(0)));
        acc = acc.subarray(2 + acc.readUInt16BE(0));
      }
      if (out.length >= expect) done();
    });
  });
}
