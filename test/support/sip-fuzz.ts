/**
 * test/support/sip-fuzz: mutated SIP messages from valid seeds, for the SIP
 * fuzz suites. Deterministic (a seeded PRNG), so a failing run can be
 * replayed. Seeds: INVITE, ACK, BYE (in-dialog, with our Route), CANCEL,
 * OPTIONS (to the instance), REGISTER, INFO, an unknown method, and
 * responses. Mutations: truncation, byte flips, header duplication, huge or
 * bad Content-Length, missing CRLF, binary junk, overlong lines, many
 * headers, deleted lines, folded lines, bracket junk in Via, pure noise.
 */

/** mulberry32: small, fast, good enough to pick mutations. */
export class Rng {
  constructor(private s: number) {}
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

export interface FuzzEnds {
  /** The fuzzer's own address and port (Via, Contact). */
  local: string;
  localPort: number;
  /** The instance. */
  proxy: string;
  proxyPort: number;
  protocol: 'UDP' | 'TCP';
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';

function host(a: string): string {
  return a.includes(':') ? `[${a}]` : a;
}

function build(start: string, headers: string[], body = ''): string {
  return [start, ...headers, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`, '', body].join('\r\n');
}

/** One valid message of each seed kind; `n` makes Call-ID and branch unique. */
function seeds(e: FuzzEnds, n: number): string[] {
  const via = `Via: SIP/2.0/${e.protocol} ${host(e.local)}:${e.localPort};branch=z9hG4bK${n}x${(n * 7919) % 100000};rport`;
  const from = `From: "Fuzz" <sip:fuzz@${host(e.local)}>;tag=f${n}`;
  const cid = `Call-ID: fz${n}@${host(e.local)}`;
  const contact = `Contact: <sip:fuzz@${host(e.local)}:${e.localPort}>`;
  const mf = 'Max-Forwards: 70';
  const route = 'Route: <sip:sipproxy.example.com;lr;pair=tserver.example.com>';
  const to = 'To: <sip:1000@tserver.example.com>';
  const toTag = `To: <sip:1000@tserver.example.com>;tag=t${n}`;
  const self = `sip:proxy1.example.com:${e.proxyPort}`;
  const resVia = via.replace('branch=', 'received=127.0.0.1;branch=');
  return [
    build('INVITE sip:1000@tserver.example.com SIP/2.0', [via, mf, from, to, cid, 'CSeq: 1 INVITE', contact, 'Content-Type: application/sdp', 'Supported: timer', 'User-Agent: fuzz/1'], SDP),
    build(`BYE sip:1000@127.0.0.41 SIP/2.0`, [via, mf, route, from, toTag, cid, 'CSeq: 2 BYE']),
    build(`ACK sip:1000@127.0.0.41 SIP/2.0`, [via, mf, route, from, toTag, cid, 'CSeq: 1 ACK']),
    build('CANCEL sip:1000@tserver.example.com SIP/2.0', [via, mf, from, to, cid, 'CSeq: 1 CANCEL']),
    build(`OPTIONS ${self} SIP/2.0`, [via, mf, from, `To: <${self}>`, cid, 'CSeq: 7 OPTIONS', 'Accept: application/sdp']),
    build('REGISTER sip:example.com SIP/2.0', [via, mf, `From: <sip:fuzz@example.com>;tag=r${n}`, 'To: <sip:fuzz@example.com>', cid, 'CSeq: 3 REGISTER', contact, 'Expires: 60']),
    build('INFO sip:1000@tserver.example.com SIP/2.0', [via, mf, from, toTag, cid, 'CSeq: 4 INFO', 'Content-Type: application/dtmf-relay'], 'Signal=5\r\nDuration=100\r\n'),
    build('FROBNICATE sip:1000@tserver.example.com SIP/2.0', [via, mf, from, to, cid, 'CSeq: 5 FROBNICATE']),
    build('SIP/2.0 200 OK', [resVia, from, toTag, cid, 'CSeq: 1 INVITE', contact, 'Content-Type: application/sdp'], SDP),
    build('SIP/2.0 180 Ringing', [resVia, from, toTag, cid, 'CSeq: 1 INVITE']),
    build('SIP/2.0 486 Busy Here', [resVia, from, toTag, cid, 'CSeq: 1 INVITE']),
  ];
}

const HEADER_NAMES = ['Via', 'v', 'From', 'f', 'To', 't', 'Call-ID', 'i', 'CSeq', 'Contact', 'm', 'Route', 'Record-Route', 'Max-Forwards', 'Content-Length', 'l', 'Content-Type', 'c', 'Expires', 'Proxy-Require'];
const JUNK_VALUES = [
  '', ' ', ';', '<', '>', '<sip:>', 'sip:[', '[::1', '[:::::::::]', 'SIP/2.0/UDP [', 'SIP/2.0/UDP 127.0.0.1:99999', '"unterminated',
  '<sip:a@b;lr', '99999999999999999999', '-1', '1 INVITE INVITE', 'abc INVITE', '<sip:127.0.0.99;maddr=127.0.0.99;lr>',
  'SIP/2.0/TCP 1.2.3', '\x00\x01\x02', '%00', 'sip:a@b?c=d&e', ' , , , ', 'tel:+1234', '*',
];

function lines(m: string): string[] {
  return m.split('\r\n');
}

/** One mutation of `m`. Sizes are capped at `maxBytes` (a UDP datagram's limit). */
function mutate(m: string, rng: Rng, maxBytes: number): string {
  switch (rng.int(16)) {
    case 0: // truncation
      return m.slice(0, rng.int(m.length));
    case 1: { // byte flips
      const b = Buffer.from(m, 'latin1');
      for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)] = rng.int(256);
      return b.toString('latin1');
    }
    case 2: { // header duplication
      const ls = lines(m);
      const i = 1 + rng.int(Math.max(1, ls.indexOf('') - 1));
      const copies = 1 + rng.int(rng.next() < 0.1 ? 400 : 8);
      ls.splice(i, 0, ...Array<string>(copies).fill(ls[i] ?? 'X: y'));
      return ls.join('\r\n');
    }
    case 3: // huge or bad Content-Length
      return m.replace(/Content-Length: \d+/, 'Content-Length: ' + rng.pick(['4294967296', '99999999', '-1', '1e9', '0x10', ' 12 34', '65536', '9'.repeat(40), String(rng.int(2000))]));
    case 4: // missing CRLF: bare LF, bare CR, or no empty line
      return rng.pick([m.replace(/\r\n/g, '\n'), m.replace(/\r\n/g, '\r'), m.replace('\r\n\r\n', '\r\n'), m.replace(/\r\n/, '')]);
    case 5: { // binary junk inserted
      const at = rng.int(m.length);
      const junk = Buffer.alloc(1 + rng.int(200));
      for (let i = 0; i < junk.length; i++) junk[i] = rng.int(256);
      return m.slice(0, at) + junk.toString('latin1') + m.slice(at);
    }
    case 6: { // overlong line
      const len = rng.next() < 0.5 ? 8000 + rng.int(2000) : 9000 + rng.int(Math.max(1, maxBytes - m.length - 9100));
      const ls = lines(m);
      ls.splice(1 + rng.int(3), 0, `${rng.pick(HEADER_NAMES)}: ${'a'.repeat(len)}`);
      return ls.join('\r\n');
    }
    case 7: { // many headers
      const ls = lines(m);
      const k = 200 + rng.int(800);
      const extra: string[] = [];
      for (let i = 0; i < k; i++) extra.push(`X-H${i}: ${i}`);
      ls.splice(1, 0, ...extra);
      return ls.join('\r\n');
    }
    case 8: { // a line deleted
      const ls = lines(m);
      ls.splice(rng.int(ls.length), 1);
      return ls.join('\r\n');
    }
    case 9: { // a header value replaced by junk
      const ls = lines(m);
      const end = Math.max(2, ls.indexOf(''));
      const i = 1 + rng.int(end - 1);
      const c = (ls[i] ?? '').indexOf(':');
      ls[i] = (c > 0 ? ls[i]!.slice(0, c) : rng.pick(HEADER_NAMES)) + ': ' + rng.pick(JUNK_VALUES);
      return ls.join('\r\n');
    }
    case 10: { // a header added with a junk value
      const ls = lines(m);
      ls.splice(1 + rng.int(4), 0, `${rng.pick(HEADER_NAMES)}: ${rng.pick(JUNK_VALUES)}`);
      return ls.join('\r\n');
    }
    case 11: // folded continuation lines, leading whitespace
      return rng.pick([m.replace(/\r\n(Via|From|To): /, '\r\n$1:\r\n   '), '\r\n\r\n' + m, m.replace(/: /g, ' :\t ')]);
    case 12: // start line damaged
      return rng.pick(['INVITE', 'SIP/2.0 ', ' sip:x SIP/2.0', 'INVITE sip:1000@tserver.example.com SIP/3.0', 'SIP/2.0 9999 X', 'sip:a SIP/2.0 INVITE']) + m.slice(m.indexOf('\r\n'));
    case 13: { // pure noise
      const b = Buffer.alloc(1 + rng.int(1500));
      for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
      return b.toString('latin1');
    }
    case 14: // IPv6 reference junk in Via / Route
      return m.replace(/Via: SIP\/2\.0\/(\w+) [^;]+/, `Via: SIP/2.0/$1 ${rng.pick(['[::1]', '[::1', '[::1]:0', '[fe80::1%eth0]:5060', '[::ffff:127.0.0.1]:5060', '[' + ':'.repeat(50) + ']', '[1:2:3:4:5:6:7:8:9]'])}`);
    default: // numbers out of range
      return m.replace(/CSeq: \d+/, 'CSeq: ' + rng.pick(['4294967296', '-5', '99999999999999', '0'])).replace('Max-Forwards: 70', 'Max-Forwards: ' + rng.pick(['0', '256', '-1', '9999', 'x']));
  }
}

/** A message: a seed with one to three mutations (about 5% left valid as a control). */
export function fuzzMessage(e: FuzzEnds, n: number, rng: Rng, maxBytes: number): Buffer {
  const all = seeds(e, n);
  let m = rng.pick(all);
  if (rng.next() >= 0.05) {
    for (let k = 1 + rng.int(3); k > 0; k--) m = mutate(m, rng, maxBytes);
  }
  const b = Buffer.from(m, 'latin1');
  return b.length > maxBytes ? b.subarray(0, maxBytes) : b;
}
