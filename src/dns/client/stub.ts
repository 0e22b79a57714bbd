/**
 * dns/client/stub: srvproxy's own stub resolver, for the SIP plane's RFC 3263
 * lookups of names outside the zones (it reaches sip through the site wiring,
 * as sip/proxy/resolver's SipDnsClient). One question (A, AAAA, SRV or NAPTR)
 * with RD set to the configured recursive resolvers (the system's, from
 * /etc/resolv.conf, unless --resolver or SRVPROXY_RESOLVER names others), in
 * order: over UDP (EDNS0, 1232 octets), again over TCP when the answer is
 * truncated; the next server on a timeout, SERVFAIL or REFUSED. The answer's
 * records keep the TTL they carried (the smallest of the records and of the
 * CNAMEs that led to them), which Node's resolver does not report for SRV and
 * NAPTR. Each exchange has its own socket (a random source port) and a random
 * ID; an answer must come from the server asked and match the ID and the
 * question, else it is ignored and the exchange keeps waiting.
 * May import: dns/wire, shared.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { formatIPv6 } from '../../shared/ip.js';
import { readMessage, readName, type MessageLayout } from '../wire/message.js';
import { CLASS_IN, FLAG, MAX_UDP_PAYLOAD, RCODE, TYPE, nameToWire } from '../wire/wire.js';

export type StubKind = 'A' | 'AAAA' | 'SRV' | 'NAPTR';

export interface StubServer {
  readonly address: string;
  readonly port: number;
}

/** Records (canonical names, lower case, no trailing dot) and their TTL; or NXDOMAIN, no data, or no usable answer. */
export type StubAnswer =
  | { data: readonly ({ address: string } | StubSrv | StubNaptr)[]; ttl: number }
  | 'nx'
  | 'nodata'
  | 'fail';

interface StubSrv {
  priority: number;
  weight: number;
  port: number;
  name: string;
}

interface StubNaptr {
  order: number;
  preference: number;
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
}

export interface StubOptions {
  /** The recursive resolvers, tried in order. */
  servers: readonly StubServer[];
  /** Wait for one server's answer, ms; default 1000. */
  timeoutMs?: number;
}

const QTYPE: Record<StubKind, number> = { A: TYPE.A, AAAA: TYPE.AAAA, SRV: TYPE.SRV, NAPTR: TYPE.NAPTR };
/** Records read from one answer, at most (a large SRV pool with its additional addresses fits). */
const MAX_ANSWER_RECORDS = 1024;
/** CNAMEs followed inside one answer, at most. */
const MAX_CHAIN = 8;

/** The `nameserver` lines of a resolv.conf text, port 53. */
export function resolvConfServers(text: string): StubServer[] {
  const out: StubServer[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const address = m[1]!.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) is not kept
    if (net.isIP(address)) out.push({ address, port: 53 });
  }
  return out;
}

/** The system's resolvers (/etc/resolv.conf); 127.0.0.1:53 when it names none, as the C library does. */
export function systemServers(file = '/etc/resolv.conf'): StubServer[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // no file: the default below
  }
  const found = resolvConfServers(text);
  return found.length > 0 ? found : [{ address: '127.0.0.1', port: 53 }];
}

export class StubResolver {
  private readonly servers: readonly StubServer[];
  private readonly timeoutMs: number;
  private readonly live = new Set<() => void>();
  private closed = false;

  constructor(opts: StubOptions) {
    this.servers = opts.servers;
    this.timeoutMs = opts.timeoutMs ?? 1000;
  }

  /** Asks each server in turn until one gives a usable answer; never rejects. */
  async query(kind: StubKind, name: string): Promise<StubAnswer> {
    const qname = name.toLowerCase().replace(/\.$/, '');
    for (const server of this.servers) {
      if (this.closed) return 'fail';
      const id = randomInt(0, 0x10000);
      const query = buildQuery(id, qname, QTYPE[kind]);
      let msg = await this.exchange(server, query, id, qname, QTYPE[kind], false);
      if (msg && (msg.layout.flags & FLAG.TC) !== 0) msg = await this.exchange(server, query, id, qname, QTYPE[kind], true);
      if (!msg) continue;
      const rcode = msg.layout.flags & 0xf;
      if (rcode === RCODE.NXDOMAIN) return 'nx';
      if (rcode !== RCODE.NOERROR) continue;
      return readAnswer(msg.buf, msg.layout, qname, QTYPE[kind]);
    }
    return 'fail';
  }

  /** Ends every exchange in flight (their queries answer 'fail'). */
  close(): void {
    this.closed = true;
    for (const end of [...this.live]) end();
  }

  private exchange(server: StubServer, query: Buffer, id: number, qname: string, qtype: number, tcp: boolean): Promise<{ buf: Buffer; layout: MessageLayout } | undefined> {
    return new Promise((resolve) => {
      let done = false;
      let sock: dgram.Socket | net.Socket | undefined;
      const finish = (r: { buf: Buffer; layout: MessageLayout } | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.live.delete(end);
        try {
          if (sock instanceof net.Socket) sock.destroy();
          else sock?.close();
        } catch {
          // already closed
        }
        resolve(r);
      };
      const end = (): void => finish(undefined);
      this.live.add(end);
      const timer = setTimeout(end, this.timeoutMs);
      const check = (buf: Buffer): void => {
        const layout = readMessage(buf, buf.length, MAX_ANSWER_RECORDS);
        if (!layout || layout.id !== id || (layout.flags & FLAG.QR) === 0) return;
        const q = layout.questions[0];
        if (layout.questions.length !== 1 || !q || q.name !== qname || q.type !== qtype) return;
        finish({ buf, layout });
      };
      try {
        if (tcp) {
          const framed = Buffer.allocUnsafe(2 + query.length);
          framed.writeUInt16BE(query.length, 0);
          query.copy(framed, 2);
          let have = Buffer.alloc(0);
          const s = net.connect({ host: server.address, port: server.port });
          sock = s;
          s.on('error', end);
          s.on('close', end);
          s.on('connect', () => s.write(framed));
          s.on('data', (chunk: Buffer) => {
            have = Buffer.concat([have, chunk]);
            if (have.length >= 2 && have.length >= 2 + have.readUInt16BE(0)) check(have.subarray(2, 2 + have.readUInt16BE(0)));
          });
        } else {
          const s = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
          sock = s;
          s.on('error', end);
          s.on('message', (buf: Buffer, rinfo: dgram.RemoteInfo) => {
            if (rinfo.address === server.address && rinfo.port === server.port) check(buf);
          });
          s.send(query, server.port, server.address, (err) => {
            if (err) end();
          });
        }
      } catch {
        queueMicrotask(end);
      }
    });
  }
}

function buildQuery(id: number, qname: string, qtype: number): Buffer {
  const name = nameToWire(qname);
  const buf = Buffer.alloc(12 + name.length + 4 + 11);
  buf.writeUInt16BE(id, 0);
  buf.writeUInt16BE(FLAG.RD, 2);
  buf.writeUInt16BE(1, 4); // QDCOUNT
  buf.writeUInt16BE(1, 10); // ARCOUNT: OPT
  name.copy(buf, 12);
  let p = 12 + name.length;
  buf.writeUInt16BE(qtype, p);
  buf.writeUInt16BE(CLASS_IN, p + 2);
  p += 4;
  // OPT: root owner, type 41, class = UDP payload size, TTL 0, RDLEN 0
  buf[p] = 0;
  buf.writeUInt16BE(TYPE.OPT, p + 1);
  buf.writeUInt16BE(MAX_UDP_PAYLOAD, p + 3);
  return buf;
}

/** The records of type `qtype` at the end of the CNAME chain from `qname`, with the smallest TTL on the way. */
function readAnswer(buf: Buffer, layout: MessageLayout, qname: string, qtype: number): StubAnswer {
  let owner = qname;
  let ttl = Infinity;
  for (let i = 0; i < MAX_CHAIN; i++) {
    const cname = layout.answer.find((r) => r.type === TYPE.CNAME && r.name === owner && r.klass === CLASS_IN);
    if (!cname) break;
    const target = readName(buf, cname.rdata, buf.length);
    if (!target) return 'fail';
    ttl = Math.min(ttl, cname.ttl);
    owner = target.name;
  }
  const data: ({ address: string } | StubSrv | StubNaptr)[] = [];
  for (const r of layout.answer) {
    if (r.type !== qtype || r.name !== owner || r.klass !== CLASS_IN) continue;
    const d = readRdata(buf, r.rdata, r.rdlength, qtype);
    if (d === null) return 'fail';
    data.push(d);
    ttl = Math.min(ttl, r.ttl);
  }
  return data.length > 0 ? { data, ttl } : 'nodata';
}

function readRdata(buf: Buffer, p: number, len: number, qtype: number): { address: string } | StubSrv | StubNaptr | null {
  switch (qtype) {
    case TYPE.A:
      return len === 4 ? { address: `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}` } : null;
    case TYPE.AAAA:
      return len === 16 ? { address: formatIPv6(buf.subarray(p, p + 16)) } : null;
    case TYPE.SRV: {
      if (len < 7) return null;
      const n = readName(buf, p + 6, p + len);
      return n ? { priority: buf.readUInt16BE(p), weight: buf.readUInt16BE(p + 2), port: buf.readUInt16BE(p + 4), name: n.name } : null;
    }
    case TYPE.NAPTR: {
      if (len < 7) return null;
      let q = p + 4;
      const strings: string[] = [];
      for (let i = 0; i < 3; i++) {
        const l = buf[q]!;
        if (q + 1 + l > p + len) return null;
        strings.push(buf.toString('latin1', q + 1, q + 1 + l));
        q += 1 + l;
      }
      const n = readName(buf, q, p + len);
      if (!n) return null;
      return { order: buf.readUInt16BE(p), preference: buf.readUInt16BE(p + 2), flags: strings[0]!, service: strings[1]!, regexp: strings[2]!, replacement: n.name };
    }
    default:
      return null;
  }
}
