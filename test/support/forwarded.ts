/**
 * test/support/forwarded: compares a request as a user agent sent it with the
 * copy a member stand-in received from srvproxy: "unchanged in meaning"
 * (method, Request-URI, Call-ID, CSeq, From and To (<> or not, parameter names in any case), the Vias below the proxy's,
 * the body, named headers; LWS may differ), Max-Forwards one less (70 added
 * when there was none), and a Content-Length that frames the body.
 */
import { expect } from 'chai';
import { rawHead } from './sip-server.js';

const squash = (v: string) => v.replace(/[ \t]+/g, '');

/** A From/To value in one form: no LWS, the URI in <> (a bare addr-spec's parameters are header parameters, RFC 3261 §20.10). */
function nameAddr(v: string): string {
  let x = squash(v);
  if (!x.includes('<')) {
    const semi = x.indexOf(';');
    x = semi < 0 ? `<${x}>` : `<${x.slice(0, semi)}>${x.slice(semi)}`;
  }
  // header parameter names are case-insensitive (RFC 3261 §7.3.1)
  const end = x.lastIndexOf('>') + 1;
  const params = x.slice(end).split(';').map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? p.toLowerCase() : p.slice(0, eq).toLowerCase() + p.slice(eq);
  });
  return x.slice(0, end) + params.join(';');
}

function splitVias(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const one of v.split(',')) if (one.trim()) out.push(squash(one));
  return out;
}

/** The body of a request as sent: Content-Length octets when it has one, else all of it. */
function sentBody(head: NonNullable<ReturnType<typeof rawHead>>): string {
  const cl = head.get('content-length')[0];
  return cl === undefined ? head.body : head.body.slice(0, Number(cl));
}

export function expectForwardedUnchanged(sent: string, fwd: string, headers: string[] = []): void {
  const s = rawHead(sent);
  const f = rawHead(fwd);
  expect(s, 'sent message has a head').to.not.equal(undefined);
  expect(f, 'forwarded message has a head').to.not.equal(undefined);
  const [sm, su] = s!.startLine.split(' ');
  const [fm, fu] = f!.startLine.split(' ');
  expect(fm, 'method').to.equal(sm);
  expect(fu, 'Request-URI').to.equal(su);
  expect(f!.get('call-id').map((x) => x.trim()), 'Call-ID').to.deep.equal(s!.get('call-id').map((x) => x.trim()));
  const cseq = (v: string | undefined) => {
    const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(v ?? '');
    return m ? `${BigInt(m[1]!)} ${m[2]}` : `unparsed: ${v}`;
  };
  expect(f!.get('cseq').map(cseq), 'CSeq').to.deep.equal(s!.get('cseq').map(cseq));
  expect(f!.get('from').map(nameAddr), 'From').to.deep.equal(s!.get('from').map(nameAddr));
  expect(f!.get('to').map(nameAddr), 'To').to.deep.equal(s!.get('to').map(nameAddr));
  const smf = s!.get('max-forwards');
  const fmf = f!.get('max-forwards');
  expect(fmf.length, 'one Max-Forwards').to.equal(1);
  if (smf.length === 0) expect(Number(fmf[0]), 'Max-Forwards added').to.equal(70);
  else expect(Number(fmf[0]), 'Max-Forwards decremented').to.equal(Number(smf[0]) - 1);
  const sv = splitVias(s!.get('via'));
  const fv = splitVias(f!.get('via'));
  expect(fv.length, 'one Via added').to.equal(sv.length + 1);
  expect(fv.slice(2), 'the Vias below the sender\'s').to.deep.equal(sv.slice(1));
  expect(f!.body, 'body').to.equal(sentBody(s!));
  const fcl = f!.get('content-length');
  expect(fcl.length, 'one Content-Length').to.equal(1);
  expect(Number(fcl[0]), 'Content-Length frames the body').to.equal(Buffer.byteLength(f!.body, 'latin1'));
  for (const h of headers) expect(f!.get(h).map(squash).join(','), h).to.equal(s!.get(h).map(squash).join(','));
}
