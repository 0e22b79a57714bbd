/**
 * test/support/dns-upstream: a scripted DNS server on loopback standing in
 * for an upstream resolver — UDP and TCP on one port, every query counted and
 * handed to a script that returns the answer (or null: stay silent), after an
 * optional delay. Answers are built by hand here, independent of src/dns.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface SeenQuery {
  transport: 'udp' | 'tcp';
  id: number;
  name: string;
  type: number;
  from: string;
  /** Source port of the query (the forwarder's socket). */
  port: number;
}

export type Script = (query: Buffer, q: SeenQuery) => Buffer | Buffer[] | null;

function questionEnd(msg: Buffer): number {
  let p = 12;
  while (msg[p] !== 0) p += msg[p]! + 1;
  return p + 1 + 4;
}

function nameOf(msg: Buffer): string {
  const labels: string[] = [];
  for (let p = 12; msg[p] !== 0; p += msg[p]! + 1) labels.push(msg.toString('latin1', p + 1, p + 1 + msg[p]!));
  return labels.join('.');
}

export interface AnswerSpec {
  /** A records for the question name. */
  addresses?: string[];
  ttl?: number;
  tc?: boolean;
  rcode?: number;
  /** Override the ID (spoofing tests). */
  id?: number;
  /** NXDOMAIN/NODATA with an SOA: [soa ttl, minimum]. */
  soa?: [number, number];
  /** NS records in authority (pointing at names, never contacted). */
  ns?: string[];
}

function nameWire(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const l of name.split('.').filter(Boolean)) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** An answer to `query`: header, its question, then the records of `spec`. */
export function answer(query: Buffer, spec: AnswerSpec): Buffer {
  const qEnd = questionEnd(query);
  const records: Buffer[] = [];
  const ttl = spec.ttl ?? 300;
  for (const a of spec.addresses ?? []) {
    const r = Buffer.alloc(16);
    r.writeUInt16BE(0xc00c, 0);
    r.writeUInt16BE(1, 2);
    r.writeUInt16BE(1, 4);
    r.writeUInt32BE(ttl, 6);
    r.writeUInt16BE(4, 10);
    a.split('.').forEach((o, i) => (r[12 + i] = Number(o)));
    records.push(r);
  }
  let ns = 0;
  if (spec.soa) {
    const rdata = Buffer.concat([nameWire('ns.upstream.test'), nameWire('hostmaster.upstream.test'), Buffer.alloc(20)]);
    rdata.writeUInt32BE(1, rdata.length - 20);
    rdata.writeUInt32BE(spec.soa[1], rdata.length - 4);
    const h = Buffer.alloc(10);
    h.writeUInt16BE(6, 0);
    h.writeUInt16BE(1, 2);
    h.writeUInt32BE(spec.soa[0], 4);
    h.writeUInt16BE(rdata.length, 8);
    records.push(Buffer.concat([nameWire('upstream.test'), h, rdata]));
    ns++;
  }
  for (const host of spec.ns ?? []) {
    const rdata = nameWire(host);
    const h = Buffer.alloc(10);
    h.writeUInt16BE(2, 0);
    h.writeUInt16BE(1, 2);
    h.writeUInt32BE(ttl, 4);
    h.writeUInt16BE(rdata.length, 8);
    records.push(Buffer.concat([Buffer.from([0xc0, 0x0c]), h, rdata]));
    ns++;
  }
  const head = Buffer.from(query.subarray(0, qEnd));
  if (spec.id !== undefined) head.writeUInt16BE(spec.id, 0);
  head.writeUInt16BE(0x8180 | (spec.tc ? 0x0200 : 0) | (spec.rcode ?? 0), 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE((spec.addresses ?? []).length, 6);
  head.writeUInt16BE(ns, 8);
  head.writeUInt16BE(0, 10);
  return Buffer.concat([head, ...records]);
}

export class ScriptedUpstream {
  readonly seen: SeenQuery[] = [];
  port = 0;
  /** Milliseconds to wait before answering. */
  delayMs = 0;
  private udp: dgram.Socket | null = null;
  private tcp: net.Server | null = null;
  private readonly conns = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    public script: Script,
    readonly address = '127.0.0.1',
  ) {}

  count(transport?: 'udp' | 'tcp'): number {
    return transport ? this.seen.filter((s) => s.transport === transport).length : this.seen.length;
  }

  private later(fn: () => void): void {
    if (this.delayMs <= 0) return fn();
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.delayMs);
    this.timers.add(t);
  }

  private handle(msg: Buffer, transport: 'udp' | 'tcp', from: string, port: number): Buffer[] {
    const q: SeenQuery = { transport, id: msg.readUInt16BE(0), name: nameOf(msg), type: msg.readUInt16BE(questionEnd(msg) - 4), from, port };
    this.seen.push(q);
    const out = this.script(msg, q);
    return out === null ? [] : Array.isArray(out) ? out : [out];
  }

  async start(port = 0): Promise<void> {
    const udp = (this.udp = dgram.createSocket('udp4'));
    await new Promise<void>((resolve) => udp.bind(port, this.address, () => resolve()));
    this.port = udp.address().port;
    udp.on('message', (msg, rinfo) => {
      const outs = this.handle(msg, 'udp', rinfo.address, rinfo.port);
      this.later(() => {
        for (const o of outs) if (this.udp) udp.send(o, rinfo.port, rinfo.address);
      });
    });
    const tcp = (this.tcp = net.createServer((s) => {
      this.conns.add(s);
      s.on('close', () => this.conns.delete(s));
      s.on('error', () => {});
      let buf = Buffer.alloc(0);
      s.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const outs = this.handle(Buffer.from(msg), 'tcp', s.remoteAddress ?? '', s.remotePort ?? 0);
          this.later(() => {
            for (const o of outs) {
              const len = Buffer.alloc(2);
              len.writeUInt16BE(o.length, 0);
              if (!s.destroyed) s.write(Buffer.concat([len, o]));
            }
          });
        }
      });
    }));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.address, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const udp = this.udp;
    this.udp = null;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    for (const c of this.conns) c.destroy();
    const tcp = this.tcp;
    this.tcp = null;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
