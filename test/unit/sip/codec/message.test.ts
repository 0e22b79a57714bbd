import { expect } from 'chai';
import sip from 'sip';
import { answerableHead, decode, encode, type SipRequest, type SipResponse } from '../../../../src/sip/codec/codec.js';
import type { SipHeaders } from '../../../../src/sip/codec/message.js';
import { makeResponse } from '../../../../src/sip/codec/messages.js';

const HEAD =
  'OPTIONS sip:sipproxy.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKm1;rport\r\n' +
  'From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: m1\r\nCSeq: 4 OPTIONS\r\nMax-Forwards: 70';

function headers(): SipHeaders {
  return {
    via: [{ version: '2.0', protocol: 'UDP', host: '127.0.0.11', port: 5060, params: { branch: 'z9hG4bKx', rport: null } }],
    from: { uri: 'sip:a@x', params: { tag: '1' } },
    to: { name: '"Bob"', uri: 'sip:b@y', params: {} },
    'call-id': 'c1',
    cseq: { seq: 9, method: 'MESSAGE' },
  };
}

function request(h: SipHeaders = headers(), content?: string): SipRequest {
  return { kind: 'request', method: 'MESSAGE', uri: 'sip:b@y', version: '2.0', headers: h, content };
}

function written(h: SipHeaders): string {
  return encode(request(h)).toString('latin1');
}

describe('sip/codec/message (request | response, one shape per kind)', () => {
  it('a request decodes to kind request with its fields in one fixed order; a response to kind response', () => {
    const rq = decode(Buffer.from(HEAD + '\r\nContent-Length: 2\r\n\r\nhi', 'latin1'));
    if (!rq.ok) throw new Error(rq.error);
    expect(rq.msg.kind).to.equal('request');
    expect(Object.keys(rq.msg)).to.deep.equal(['kind', 'method', 'uri', 'version', 'headers', 'content']);
    if (rq.msg.kind !== 'request') return;
    expect([rq.msg.method, rq.msg.uri, rq.msg.version, rq.msg.content]).to.deep.equal(['OPTIONS', 'sip:sipproxy.example.com', '2.0', 'hi']);

    const rs = decode(Buffer.from('SIP/2.0 486 Busy Here\r\n' + HEAD.slice(HEAD.indexOf('\r\n') + 2) + '\r\n\r\n', 'latin1'));
    if (!rs.ok) throw new Error(rs.error);
    expect(Object.keys(rs.msg)).to.deep.equal(['kind', 'status', 'reason', 'version', 'headers', 'content']);
    if (rs.msg.kind !== 'response') throw new Error('not a response');
    expect([rs.msg.status, rs.msg.reason, rs.msg.content]).to.deep.equal([486, 'Busy Here', undefined]);
  });

  it('a message without a body has the same keys as one with a body (content present, undefined)', () => {
    const a = decode(Buffer.from(HEAD + '\r\n\r\n', 'latin1'));
    const b = decode(Buffer.from(HEAD + '\r\nContent-Length: 3\r\n\r\nabc', 'latin1'));
    if (!a.ok || !b.ok) throw new Error('not decoded');
    expect(Object.keys(a.msg)).to.deep.equal(Object.keys(b.msg));
    expect(a.msg.content).to.equal(undefined);
  });

  it('the serializer writes a request line or a status line by kind, and both read back as the same kind', () => {
    const rq = request(headers(), 'body');
    const text = encode(rq).toString('latin1');
    expect(text.startsWith('MESSAGE sip:b@y SIP/2.0\r\n')).to.equal(true);
    expect(text.endsWith('Content-Length: 4\r\n\r\nbody')).to.equal(true);
    const back = decode(Buffer.from(text, 'latin1'));
    if (!back.ok || back.msg.kind !== 'request') throw new Error('not a request');
    expect(back.msg.headers.cseq).to.deep.equal({ seq: 9, method: 'MESSAGE' });

    const rs: SipResponse = makeResponse(rq, 202);
    const rtext = encode(rs).toString('latin1');
    expect(rtext.startsWith('SIP/2.0 202 \r\n')).to.equal(true); // no table entry: empty reason phrase
    expect(rtext).to.match(/\r\nTo: "Bob" <sip:b@y>;tag=[\w-]+\r\n/);
    const rback = decode(Buffer.from(rtext, 'latin1'));
    if (!rback.ok || rback.msg.kind !== 'response') throw new Error('not a response');
    expect(rback.msg.status).to.equal(202);
    // what package sip, the independent reader, makes of it
    const theirs = sip.parse(rtext)!;
    expect([theirs.status, theirs.headers.cseq, theirs.headers.via![0].params.branch]).to.deep.equal([202, { seq: 9, method: 'MESSAGE' }, 'z9hG4bKx']);
  });

  describe('header forms package sip used to write for the serializer (now its own)', () => {
    it('Contact: * (a REGISTER removing all bindings), and a Contact list', () => {
      expect(written({ ...headers(), contact: '*' })).to.contain('\r\nContact: *\r\n');
      const list = written({ ...headers(), contact: [{ uri: 'sip:a@127.0.0.50:5070', params: { expires: '60' } }, { name: 'B', uri: 'sip:b@c', params: {} }] });
      expect(list).to.contain('\r\nContact: <sip:a@127.0.0.50:5070>;expires=60, B <sip:b@c>\r\n');
    });

    it('the Authorization family as one line per value (RFC 3261 §7.3.1), and it reads back the same', () => {
      const text = written({ ...headers(), 'proxy-authorization': ['Digest username="a", realm="r"', 'Digest username="b"'], 'www-authenticate': ['Digest realm="x"'] });
      expect(text).to.contain('\r\nProxy-Authorization: Digest username="a", realm="r"\r\nProxy-Authorization: Digest username="b"\r\n');
      expect(text).to.contain('\r\nWWW-Authenticate: Digest realm="x"\r\n');
      const back = decode(Buffer.from(text, 'latin1'));
      if (!back.ok) throw new Error(back.error);
      expect(back.msg.headers['proxy-authorization']).to.deep.equal(['Digest username="a", realm="r"', 'Digest username="b"']);
      expect(back.msg.headers['www-authenticate']).to.equal('Digest realm="x"');
    });

    it('numbers, Refer-To, Route/Path lists with parsed URIs, unknown names capitalised, empty lists and hostless Vias left out', () => {
      const text = written({
        ...headers(),
        via: [...headers().via, { version: '2.0', protocol: 'udp', host: '', params: {} }],
        expires: 3600,
        'refer-to': { uri: 'sip:c@d', params: { method: 'INVITE' } },
        route: [{ uri: { schema: 'sip', host: '[::1]', port: 5070, params: { lr: null }, headers: {} }, params: {} }],
        path: [{ uri: { schema: 'sip', user: 'f', host: 'p.example.com', params: { lr: null, ob: null }, headers: {} }, params: {} }],
        'record-route': [],
        'x-custom-thing': 'v',
      });
      expect(text).to.contain('\r\nExpires: 3600\r\n');
      expect(text).to.contain('\r\nRefer-To: <sip:c@d>;method=INVITE\r\n');
      expect(text).to.contain('\r\nRoute: <sip:[::1]:5070;lr>\r\n');
      expect(text).to.contain('\r\nPath: <sip:f@p.example.com;lr;ob>\r\n');
      expect(text).to.contain('\r\nX-Custom-Thing: v\r\n');
      expect(text).not.to.contain('Record-Route');
      expect(text.match(/\r\nVia: /g)).to.have.length(1);
      const back = decode(Buffer.from(text, 'latin1'));
      if (!back.ok) throw new Error(back.error);
      expect(back.msg.headers.route![0].uri).to.include({ host: '[::1]', port: 5070 });
    });

    it('a value of no header form is refused with an error, not written as "[object Object]"', () => {
      // what the types forbid, built around them
      const h = { ...headers(), 'x-bad': { scheme: 'Digest' } } as unknown as SipHeaders;
      expect(() => written(h)).to.throw(TypeError, /x-bad/);
      const g = { ...headers(), 'x-bad': [1, 2] } as unknown as SipHeaders;
      expect(() => written(g)).to.throw(TypeError, /x-bad/);
    });
  });

  describe('answerableHead (the head of a TCP message that broke framing, formerly read by package sip)', () => {
    it('a request head without Content-Length: the request, in compact forms and with folded lines too', () => {
      const m = answerableHead(HEAD);
      expect(m?.method).to.equal('OPTIONS');
      const compact = 'INVITE sip:b@y SIP/2.0\r\nv: SIP/2.0/TCP 127.0.0.50:5070\r\n ;branch=z9hG4bKc\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@y>\r\ni: c2\r\nCSeq: 1 INVITE';
      const c = answerableHead(compact);
      expect(c?.headers.via[0]).to.include({ host: '127.0.0.50', port: 5070, protocol: 'TCP' });
      expect(c?.headers.via[0].params.branch).to.equal('z9hG4bKc');
      expect(encode(makeResponse(c!, 400, 'Content-Length Required')).toString('latin1')).to.match(/^SIP\/2.0 400 Content-Length Required\r\nVia: SIP\/2.0\/TCP 127.0.0.50:5070;branch=z9hG4bKc\r\n/);
    });

    it('a malformed Content-Length or a later malformed header still leaves the request answerable', () => {
      expect(answerableHead(HEAD + '\r\nContent-Length: abc')?.method).to.equal('OPTIONS');
      expect(answerableHead(HEAD + '\r\nRoute: <http://x>')?.method).to.equal('OPTIONS');
    });

    it('nothing to answer: an ACK, a response, a head without Call-ID or Via, garbage', () => {
      expect(answerableHead(HEAD.replace(/OPTIONS/g, 'ACK'))).to.equal(undefined);
      expect(answerableHead('SIP/2.0 200 OK' + HEAD.slice(HEAD.indexOf('\r\n')))).to.equal(undefined);
      expect(answerableHead(HEAD.replace('Call-ID: m1\r\n', ''))).to.equal(undefined);
      expect(answerableHead(HEAD.replace(/Via: [^\r]*\r\n/, ''))).to.equal(undefined);
      expect(answerableHead('\u0000\u0001 nothing')).to.equal(undefined);
    });
  });
});
