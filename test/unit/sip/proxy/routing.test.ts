import { expect } from 'chai';
import { decode } from '../../../../src/sip/codec/codec.js';
import { decide, stripOwnRoutes, type Decision } from '../../../../src/sip/proxy/routing.js';
import { SiteIndex } from '../../../../src/sip/proxy/site-index.js';
import type { SiteModel } from '../../../../src/zone/types.js';
import { testSite } from '../../../support/fake-health.js';

const base = testSite({ address: '127.0.0.11', port: 5060 }, [
  { address: '127.0.0.21', port: 5060 },
  { address: '127.0.0.22', port: 5060 },
]) as SiteModel;
const other = {
  name: 'other.example.com',
  members: [
    { target: 'o-a.example.com', port: 5080, address: '127.0.0.31', addresses: ['127.0.0.31'], role: 'primary', transport: 'udp' },
    { target: 'o-b.example.com', port: 5080, address: '127.0.0.32', addresses: ['127.0.0.32'], role: 'backup', transport: 'udp' },
  ],
} as SiteModel['pairs'][number];
const peer = { target: 'proxy2.example.com', port: 5062, priority: 10, weight: 50, transports: ['udp'] as ('udp' | 'tcp' | 'tls')[], addresses: ['127.0.0.12'] };
const site: SiteModel = { ...base, pairs: [base.pairs[0], other], pool: { name: base.pool.name, members: [base.self, peer] } };
const ix = new SiteIndex(site, [{ address: '127.0.0.11', port: 5060 }]);

function msg(ruri: string, routes: string[] = []): ReturnType<typeof parse> {
  return parse(ruri, routes);
}
function parse(ruri: string, routes: string[]) {
  const text =
    `INVITE ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKa\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n` +
    (routes.length ? `Route: ${routes.join(', ')}\r\n` : '') +
    'Content-Length: 0\r\n\r\n';
  const r = decode(Buffer.from(text));
  if (!r.ok) throw new Error(r.error);
  if (r.msg.kind !== 'request') throw new Error('not a request');
  return r.msg;
}

const T = 'tserver.example.com';
const O = 'other.example.com';
type Case = [string, string, string[], 'inbound' | 'outbound', Decision | { kind: 'pair'; name: string }];
const cases: Case[] = [
  // inbound: only ever a pair member
  ['R-URI names a pair', 'sip:bob@other.example.com', [], 'inbound', { kind: 'pair', name: O }],
  ['R-URI names a member of a pair (dialog)', 'sip:x@127.0.0.32:5080', [], 'inbound', { kind: 'pair', name: O }],
  ['R-URI names a member by FQDN', 'sip:x@o-a.example.com', [], 'inbound', { kind: 'pair', name: O }],
  ['R-URI elsewhere: serving pair', 'sip:bob@127.0.0.99:5060', [], 'inbound', { kind: 'pair', name: T }],
  ['R-URI a foreign name: serving pair', 'sip:bob@evil.example.net', [], 'inbound', { kind: 'pair', name: T }],
  ['own Route with pair param picks the dialog pair', 'sip:alice@127.0.0.99', ['<sip:sipproxy.example.com;lr;pair=other.example.com>'], 'inbound', { kind: 'pair', name: O }],
  ['Route to a member after ours', 'sip:x@1.2.3.4', ['<sip:127.0.0.11:5060;lr>', '<sip:127.0.0.21;lr>'], 'inbound', { kind: 'pair', name: T }],
  ['a preloaded Route naming a host of the own domain the zones do not name: the serving pair', 'sip:bob@tserver.example.com', ['<sip:services.example.com;lr>'], 'inbound', { kind: 'pair', name: T }],
  ['a Route naming a host of another domain: refused', 'sip:bob@tserver.example.com', ['<sip:services.example.net;lr>'], 'inbound', { kind: 'reject', status: 403, reason: 'Route Not Allowed' }],
  ['Route to the outside: refused', 'sip:bob@tserver.example.com', ['<sip:127.0.0.99;lr>'], 'inbound', { kind: 'reject', status: 403, reason: 'Route Not Allowed' }],
  ['maddr trick does not escape', 'sip:bob@tserver.example.com;maddr=127.0.0.99', [], 'inbound', { kind: 'pair', name: T }],
  ['R-URI naming the proxy itself: serving pair', 'sip:bob@sipproxy.example.com', [], 'inbound', { kind: 'pair', name: T }],
  // outbound: Route, then R-URI
  ['outbound to a UA by IP', 'sip:alice@127.0.0.50:5070', ['<sip:sipproxy.example.com;lr;pair=tserver.example.com>'], 'outbound', { kind: 'direct', address: '127.0.0.50', port: 5070, transport: 'udp' }],
  ['outbound by Route first', 'sip:alice@127.0.0.50:5070', ['<sip:127.0.0.60:5099;lr;transport=tcp>'], 'outbound', { kind: 'direct', address: '127.0.0.60', port: 5099, transport: 'tcp' }],
  ['outbound to another pair', 'sip:bob@other.example.com', [], 'outbound', { kind: 'pair', name: O }],
  ['outbound to a peer instance', 'sip:bob@proxy2.example.com', [], 'outbound', { kind: 'direct', address: '127.0.0.12', port: 5062, transport: 'udp' }],
  ['outbound to an address by sips: TLS, default port 5061', 'sips:alice@127.0.0.50', [], 'outbound', { kind: 'direct', address: '127.0.0.50', port: 5061, transport: 'tls' }],
  ['outbound to an address with transport=tls: TLS, default port 5061', 'sip:alice@127.0.0.50;transport=TLS', [], 'outbound', { kind: 'direct', address: '127.0.0.50', port: 5061, transport: 'tls' }],
  ['outbound to a peer instance by sips: TLS to its port', 'sips:bob@proxy2.example.com', [], 'outbound', { kind: 'direct', address: '127.0.0.12', port: 5062, transport: 'tls' }],
  ['outbound to a name outside the site: RFC 3263 resolution', 'sip:bob@carrier.example.net', [], 'outbound', { kind: 'resolve', query: { host: 'carrier.example.net', port: undefined, transport: undefined, secure: false } }],
  ['outbound to a name with port and transport', 'sips:bob@gw.carrier.example.net:5071', [], 'outbound', { kind: 'resolve', query: { host: 'gw.carrier.example.net', port: 5071, transport: 'tls', secure: true } }],
  ['outbound by Route to an outside name over TCP', 'sip:bob@127.0.0.50', ['<sip:edge.carrier.example.net;transport=tcp;lr>'], 'outbound', { kind: 'resolve', query: { host: 'edge.carrier.example.net', port: undefined, transport: 'tcp', secure: false } }],
  ['outbound to a name in the own zone: RFC 3263 resolution (from the zone data)', 'sip:bob@gw.example.com', [], 'outbound', { kind: 'resolve', query: { host: 'gw.example.com', port: undefined, transport: undefined, secure: false } }],
  ['inbound to a name outside the site: the serving pair (never resolved)', 'sip:bob@carrier.example.net', [], 'inbound', { kind: 'pair', name: T }],
  ['outbound default port', 'sip:alice@127.0.0.50', [], 'outbound', { kind: 'direct', address: '127.0.0.50', port: 5060, transport: 'udp' }],
];

describe('sip/proxy/routing', () => {
  for (const [name, ruri, routes, dir, want] of cases) {
    it(`${dir}: ${name}`, () => {
      const m = msg(ruri, routes);
      const strip = stripOwnRoutes(m, ix);
      const d = decide(m, ix, strip, dir === 'outbound' ? site.pairs[0] : undefined);
      if ('name' in want) {
        expect(d.kind).to.equal('pair');
        expect((d as { pair: { name: string } }).pair.name).to.equal(want.name);
      } else expect(d).to.deep.equal(want);
    });
  }

  it('strips every own Route entry (pool FQDN, own address:port, pair param) and keeps the rest', () => {
    const m = msg('sip:x@127.0.0.21', ['<sip:sipproxy.example.com;lr;pair=tserver.example.com>', '<sip:127.0.0.11:5060;lr>', '<sip:proxy1.example.com;lr>', '<sip:127.0.0.21;lr>']);
    const s = stripOwnRoutes(m, ix);
    expect(s.dialogPair?.name).to.equal(T);
    expect(m.headers.route!.map((r) => r.uri!.host)).to.deep.equal(['127.0.0.21']);
    const n = msg('sip:x@127.0.0.21', ['<sip:127.0.0.11:5999;lr>']);
    stripOwnRoutes(n, ix);
    expect(n.headers.route).to.have.length(1); // our address on another port is not us
  });

  it('undoes a strict router: Request-URI carrying our Record-Route value takes the last Route', () => {
    const m = msg('sip:sipproxy.example.com;lr;pair=tserver.example.com', ['<sip:srv@127.0.0.21:5060>']);
    const s = stripOwnRoutes(m, ix);
    expect(m.uri).to.equal('sip:srv@127.0.0.21:5060');
    expect(m.headers.route).to.equal(undefined);
    expect(s.dialogPair?.name).to.equal(T);
  });

  it('recognises pair members by source address only', () => {
    expect(ix.memberAt('127.0.0.22')?.member.target).to.equal('sips-b.example.com');
    expect(ix.memberAt('127.0.0.50')).to.equal(undefined);
  });
});
