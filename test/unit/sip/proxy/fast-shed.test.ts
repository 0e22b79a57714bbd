import { expect } from 'chai';
import { decode, type SipRequest, type SipResponse } from '../../../../src/sip/codec/codec.js';
import { peekRequest } from '../../../../src/sip/codec/peek.js';
import { FastShed, SHED_TAG_PREFIX, type FastShedHost } from '../../../../src/sip/proxy/fast-shed.js';

const SRC = '127.0.0.50';
const SRC_PORT = 5070;

function invite(o: { via?: string; to?: string; extra?: string; method?: string; cseq?: string; compact?: boolean } = {}): Buffer {
  const m = o.method ?? 'INVITE';
  const via = o.via ?? `SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=z9hG4bK-abc-1`;
  const h = o.compact
    ? [`v: ${via}`, `f: "bench" <sip:bench@${SRC}:${SRC_PORT}>;tag=1B1`, `t: ${o.to ?? '<sip:svc@127.0.0.1:5060>'}`, 'i: call-1@127.0.0.50']
    : [`Via: ${via}`, `From: "bench" <sip:bench@${SRC}:${SRC_PORT}>;tag=1B1`, `To: ${o.to ?? '<sip:svc@127.0.0.1:5060>'}`, 'Call-ID: call-1@127.0.0.50'];
  const lines = [`${m} sip:svc@127.0.0.1:5060 SIP/2.0`, ...h, `CSeq: ${o.cseq ?? '1 ' + m}`, `Contact: <sip:bench@${SRC}:${SRC_PORT}>`, 'Max-Forwards: 70'];
  if (o.extra) lines.push(o.extra);
  lines.push('Content-Type: application/sdp', 'Content-Length: 4', '', 'v=0\n');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

class Host implements FastShedHost {
  limiting = true;
  tokens = 0;
  shed = 0;
  site = new Set<string>();
  servers = new Set<string>();
  counts: string[] = [];
  /** INVITEs over the dialog-rate cap are refused by it when the bucket has a token. */
  capped = false;
  shedNow(method: string): 'adaptive' | 'cap' | null {
    if (!this.limiting) return null;
    if (this.tokens < 1) {
      this.shed++;
      return 'adaptive';
    }
    return this.capped && method === 'INVITE' ? 'cap' : null;
  }
  isSiteAddress(a: string): boolean {
    return this.site.has(a);
  }
  absorbed: string[] = [];
  absorb(key: string, ack: boolean): boolean {
    if (!this.servers.has(key)) return false;
    this.absorbed.push(key + (ack ? ' ACK' : ''));
    return true;
  }
  retryAfter(): string {
    return '7';
  }
  counted(method: string, by: 'adaptive' | 'cap'): void {
    this.counts.push(by === 'adaptive' ? method : `${method} (cap)`);
  }
  clock = 5000;
  now(): number {
    return this.clock;
  }
}

function shed(buf: Buffer, host = new Host(), address = SRC, port = SRC_PORT): { out: Buffer | null | undefined; host: Host } {
  return { out: new FastShed(host).preview(buf, address, port), host };
}

function response(out: Buffer | null | undefined): SipResponse {
  expect(out, 'a 503').to.be.instanceOf(Buffer);
  const r = decode(out as Buffer);
  expect(r.ok, r.ok ? '' : r.error).to.equal(true);
  const msg = (r as { msg: SipResponse }).msg;
  expect(msg.kind).to.equal('response');
  return msg;
}

function request(buf: Buffer): SipRequest {
  const r = decode(buf);
  expect(r.ok).to.equal(true);
  return (r as { msg: SipRequest }).msg;
}

describe('sip/proxy/fast-shed (refusals before decoding)', () => {
  it('while limiting, a retransmission of any request with a server transaction is taken from its key: BYE, an ACK to a non-2xx under INVITE, several Vias; never while open', () => {
    const bye = Buffer.from(
      ['BYE sip:a@127.0.0.1 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-b1;rport=5060;received=127.0.0.9, SIP/2.0/UDP 127.0.0.50;branch=z9hG4bK-up', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>;tag=2', 'Call-ID: c', 'CSeq: 2 BYE', 'Content-Length: 0', '', ''].join('\r\n'),
      'latin1',
    );
    const h = new Host();
    h.servers.add('z9hG4bK-b1|127.0.0.9:5060|BYE');
    expect(shed(bye, h).out).to.equal(null);
    const ack = Buffer.from(bye.toString('latin1').replace('BYE sip', 'ACK sip').replace('2 BYE', '2 ACK'), 'latin1');
    h.servers.add('z9hG4bK-b1|127.0.0.9:5060|INVITE');
    expect(shed(ack, h).out).to.equal(null);
    expect(h.absorbed).to.deep.equal(['z9hG4bK-b1|127.0.0.9:5060|BYE', 'z9hG4bK-b1|127.0.0.9:5060|INVITE ACK']);
    // no transaction: decoded as usual (an ACK for a 2xx goes to the proxy)
    expect(shed(Buffer.from(ack.toString('latin1').replace('z9hG4bK-b1', 'z9hG4bK-b2'), 'latin1'), h).out).to.equal(undefined);
    const open = new Host();
    open.limiting = false;
    open.servers.add('z9hG4bK-b1|127.0.0.9:5060|BYE');
    expect(shed(bye, open).out).to.equal(undefined);
    expect(open.absorbed).to.deep.equal([]);
  });


  it('refuses a new INVITE with a 503 that the codec reads: Via, From, Call-ID, CSeq as sent, a To tag made from the branch, Retry-After, no body', () => {
    const req = request(invite());
    const { out, host } = shed(invite());
    const res = response(out);
    expect(res.status).to.equal(503);
    expect(res.headers.via).to.deep.equal(req.headers.via);
    expect(res.headers.from).to.deep.equal(req.headers.from);
    expect(res.headers['call-id']).to.equal(req.headers['call-id']);
    expect(res.headers.cseq).to.deep.equal(req.headers.cseq);
    expect(res.headers.to.uri).to.equal(req.headers.to.uri);
    const tag = res.headers.to.params.tag as string;
    expect(tag.startsWith(SHED_TAG_PREFIX)).to.equal(true);
    expect(res.headers['retry-after']).to.equal('7');
    expect(res.content).to.equal(undefined);
    expect(host.counts).to.deep.equal(['INVITE']);
    // a retransmission gets the same tag (§8.2.7); another branch another one
    expect(response(shed(invite()).out).headers.to.params.tag).to.equal(tag);
    const other = response(shed(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=z9hG4bK-abc-2` })).out);
    expect(other.headers.to.params.tag).to.not.equal(tag);
  });

  it('drops a retransmission of a request it refused less than a second ago (its 503 is on the way); later ones are answered again, other branches as usual', () => {
    const h = new Host();
    const fs = new FastShed(h);
    const first = response(fs.preview(invite(), SRC, SRC_PORT));
    h.clock += 999;
    expect(fs.preview(invite(), SRC, SRC_PORT), 'within the window').to.equal(null);
    expect(fs.repeats).to.equal(1);
    expect(h.shed, 'not counted as a new refusal').to.equal(1);
    const other = response(fs.preview(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=z9hG4bK-abc-9` }), SRC, SRC_PORT));
    expect(other.headers.to.params.tag).to.not.equal(first.headers.to.params.tag);
    h.clock += 1;
    const again = response(fs.preview(invite(), SRC, SRC_PORT));
    expect(again.headers.to.params.tag, 'the same tag (§8.2.7)').to.equal(first.headers.to.params.tag);
    expect(h.shed).to.equal(3);
    expect(fs.repeats).to.equal(1);
  });

  it('a repeat is known by its source as well: the same branch from another address or port is refused on its own', () => {
    const h = new Host();
    const fs = new FastShed(h);
    response(fs.preview(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};rport;branch=z9hG4bK-abc-1` }), SRC, SRC_PORT));
    expect(response(fs.preview(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};rport;branch=z9hG4bK-abc-1` }), SRC, SRC_PORT + 1)).status).to.equal(503);
    expect(response(fs.preview(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};rport;branch=z9hG4bK-abc-1` }), '127.0.0.51', SRC_PORT)).status).to.equal(503);
    expect(fs.preview(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};rport;branch=z9hG4bK-abc-1` }), SRC, SRC_PORT)).to.equal(null);
    expect(fs.repeats).to.equal(1);
  });

  it('stamps the top Via as the full path does: received when sent-by is not the source, received and rport when rport is asked; a client-written received or rport is replaced', () => {
    const named = response(shed(invite({ via: `SIP/2.0/UDP phone.example.com:${SRC_PORT};branch=z9hG4bK-n` })).out);
    expect(named.headers.via[0]!.params.received).to.equal(SRC);
    const rport = response(shed(invite({ via: `SIP/2.0/UDP 10.0.0.9:5999;rport;received=6.6.6.6;branch=z9hG4bK-r;x=1` })).out);
    expect(rport.headers.via[0]!.params).to.deep.equal({ branch: 'z9hG4bK-r', x: '1', received: SRC, rport: String(SRC_PORT) });
    expect(rport.headers.via).to.have.length(1);
    const same = response(shed(invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};received=6.6.6.6;branch=z9hG4bK-s` })).out);
    expect(same.headers.via[0]!.params).to.deep.equal({ branch: 'z9hG4bK-s' });
  });

  it('compact header names and other new out-of-dialog methods are refused too', () => {
    expect(response(shed(invite({ compact: true })).out).status).to.equal(503);
    for (const m of ['REGISTER', 'SUBSCRIBE', 'MESSAGE']) expect(response(shed(invite({ method: m })).out).headers.cseq.method).to.equal(m);
  });

  it('a refusal by the dialog-rate cap is counted as the cap’s and covers INVITEs only; a REGISTER the bucket admits goes to the full path', () => {
    const h = new Host();
    h.tokens = 1;
    h.capped = true;
    const fs = new FastShed(h);
    expect(response(fs.preview(invite(), SRC, SRC_PORT)).status).to.equal(503);
    expect(fs.preview(invite({ method: 'REGISTER', via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=z9hG4bK-r` }), SRC, SRC_PORT)).to.equal(undefined);
    expect(h.counts).to.deep.equal(['INVITE (cap)']);
    expect(h.shed, 'not a shed of the adaptive control').to.equal(0);
    expect(fs.refused).to.equal(1);
    // its retransmission within the window is dropped, as any refusal's
    expect(fs.preview(invite(), SRC, SRC_PORT)).to.equal(null);
    expect(fs.repeats).to.equal(1);
  });

  it('leaves to the full path what it must decide: not limiting, a token left, a member or peer, a retransmission of a held transaction, another port to answer at', () => {
    const h1 = new Host();
    h1.limiting = false;
    expect(shed(invite(), h1).out).to.equal(undefined);
    const h2 = new Host();
    h2.tokens = 1;
    expect(shed(invite(), h2).out).to.equal(undefined);
    const h3 = new Host();
    h3.site.add(SRC);
    expect(shed(invite(), h3).out).to.equal(undefined);
    const h4 = new Host();
    h4.servers.add(`z9hG4bK-abc-1|${SRC}:${SRC_PORT}|INVITE`);
    expect(shed(invite(), h4).out, 'a retransmission is taken by its transaction').to.equal(null);
    expect(h4.absorbed).to.deep.equal([`z9hG4bK-abc-1|${SRC}:${SRC_PORT}|INVITE`]);
    expect(h4.shed, 'a retransmission is not counted as shed').to.equal(0);
    // no rport, sent-by port 5080: the response goes to port 5080, not the source port
    expect(shed(invite({ via: `SIP/2.0/UDP ${SRC}:5080;branch=z9hG4bK-p` })).out).to.equal(undefined);
  });

  it('leaves every head it does not read plainly to the full path: in-dialog, folded, IPv6 sent-by, TCP Via, RFC 2543 branch, two Vias, a bad sent-by, CSeq of another method, bare LF, never-shed methods', () => {
    const cases: Buffer[] = [
      invite({ to: '<sip:svc@127.0.0.1:5060>;tag=abc' }),
      invite({ to: '"tagged" <sip:svc@127.0.0.1:5060>' }),
      Buffer.from(invite().toString('latin1').replace('\r\nContact:', '\r\n  ;x=1\r\nContact:'), 'latin1'),
      invite({ via: 'SIP/2.0/UDP [::1]:5070;branch=z9hG4bK-6' }),
      invite({ via: `SIP/2.0/TCP ${SRC}:${SRC_PORT};branch=z9hG4bK-t` }),
      invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=old-1` }),
      invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT} ;branch=z9hG4bK-sp` }),
      invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=z9hG4bK-2v,SIP/2.0/UDP 127.0.0.9;branch=z9hG4bK-x` }),
      Buffer.from(invite().toString('latin1').replace('\r\nFrom:', '\r\nVia: SIP/2.0/UDP 127.0.0.8:5060;branch=z9hG4bK-y\r\nFrom:'), 'latin1'),
      invite({ via: `SIP/2.0/UDP 127.0.0.5/:${SRC_PORT};branch=z9hG4bK-h` }),
      invite({ cseq: '1 REGISTER' }),
      Buffer.from(invite().toString('latin1').replace('\r\nMax-Forwards', '\nMax-Forwards'), 'latin1'),
      invite({ method: 'OPTIONS' }),
      invite({ method: 'BYE' }),
      invite({ method: 'CANCEL' }),
      Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.50;branch=z9hG4bK-1\r\n\r\n', 'latin1'),
    ];
    for (const [i, c] of cases.entries()) expect(shed(c).out, `case ${i}`).to.equal(undefined);
  });

  it('drops the ACK for its own 503 while limiting; other ACKs go on', () => {
    const res = response(shed(invite()).out);
    const tag = res.headers.to.params.tag as string;
    const ack = (t: string) =>
      Buffer.from(
        [`ACK sip:svc@127.0.0.1:5060 SIP/2.0`, `Via: SIP/2.0/UDP ${SRC}:${SRC_PORT};branch=z9hG4bK-abc-1`, 'From: <sip:b@x>;tag=1B1', `To: <sip:svc@127.0.0.1>;tag=${t}`, 'Call-ID: call-1@127.0.0.50', 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'),
        'latin1',
      );
    const fs = new FastShed(new Host());
    expect(fs.preview(ack(tag), SRC, SRC_PORT)).to.equal(null);
    expect(fs.acksDropped).to.equal(1);
    expect(fs.preview(ack('as7f1'), SRC, SRC_PORT)).to.equal(undefined);
  });

  it('every 503 it makes from a changed request is well formed, and carries that request’s Via, From, Call-ID and CSeq (2000 mutations)', () => {
    const base = invite({ via: `SIP/2.0/UDP ${SRC}:${SRC_PORT};rport;branch=z9hG4bK-m` });
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = Buffer.from(' \t\r\n:;,=<>"@[]/\\0aZz9\u0000', 'latin1');
    let refused = 0;
    for (let k = 0; k < 2000; k++) {
      const b = Buffer.from(base);
      for (let j = 0, n = 1 + rnd(3); j < n; j++) b[rnd(b.length - 8)] = alphabet[rnd(alphabet.length)]!;
      const out = shed(b).out;
      if (out === undefined) continue;
      refused++;
      // the 503 is always well formed; a request malformed in a header not read here (e.g.
      // Max-Forwards) is refused too, as it would have been before any check under overload
      const res = response(out);
      const d = decode(b);
      if (!d.ok) continue;
      const req = d.msg as SipRequest;
      expect(res.headers.via.length).to.equal(req.headers.via.length);
      expect(res.headers.via[0]!.params.branch).to.equal(req.headers.via[0]!.params.branch);
      expect(res.headers.from).to.deep.equal(req.headers.from);
      expect(res.headers['call-id']).to.equal(req.headers['call-id']);
      expect(res.headers.cseq).to.deep.equal(req.headers.cseq);
    }
    expect(refused, 'some mutations are still refused').to.be.greaterThan(100);
  });

  it('peekRequest reads only the methods asked for', () => {
    expect(peekRequest(invite(), new Set(['REGISTER']))).to.equal(undefined);
    expect(peekRequest(invite(), new Set(['INVITE']))?.branch).to.equal('z9hG4bK-abc-1');
  });
});
