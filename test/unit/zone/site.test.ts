/**
 * The site model from zone + flags: pool, self, members, HA pairs, serving
 * pair, local members, and every refusal with its message.
 */
import { expect } from 'chai';
import { SiteError } from '../../../src/shared/errors.js';
import { loadZones } from '../../../src/zone/load.js';
import { OwnAddressNotInPoolError, buildSite } from '../../../src/zone/site.js';
import type { SiteOptions, ZoneSet } from '../../../src/zone/types.js';
import { HEAD, ZoneDir } from '../../support/zone-dir.js';

const SITE = `
proxy1 A 127.0.0.11
proxy1 AAAA ::1
proxy2 A 127.0.0.12
proxy3 A 127.0.0.13
_sip._udp.sipproxy SRV 10 50 5060 proxy1
_sip._udp.sipproxy SRV 10 50 5062 proxy2
_sip._tcp.sipproxy SRV 10 50 5060 proxy1
_sips._tcp.sipproxy SRV 20 10 5061 proxy3
sips-a A 127.0.0.21
sips-b A 127.0.0.22
sips-c AAAA ::1
_sip._udp.tserver SRV 20 0 5070 sips-b
_sip._udp.tserver SRV 10 0 5060 sips-a
_sip._tcp.tcponly SRV 1 0 5060 sips-a
_sip._tcp.tcponly SRV 2 0 5060 sips-c
_sip._udp.three SRV 1 0 5060 sips-a
_sip._udp.three SRV 2 0 5060 sips-b
_sip._udp.three SRV 3 0 5060 sips-c
_sip._udp.one SRV 1 0 5060 sips-a
_sip._udp.tie SRV 5 0 5060 sips-a
_sip._udp.tie SRV 5 0 5060 sips-b
_sip._udp.noaddr SRV 1 0 5060 sips-a
_sip._udp.noaddr SRV 2 0 5060 elsewhere.test.
_sip._udp.otherpool SRV 1 0 5060 proxy1
_sip._udp.crossed SRV 1 0 5060 proxy2
_sip._udp.crossed SRV 2 0 5060 sips-b
`;

describe('site model', () => {
  const dir = new ZoneDir();
  let zones: ZoneSet;
  before(() => { zones = loadZones([dir.write('example.com.zone', HEAD + SITE)]); });
  after(() => dir.cleanup());
  const site = (o: Partial<SiteOptions>) => buildSite(zones, { self: 'proxy1.example.com', pairs: ['tserver.example.com'], pool: 'sipproxy.example.com', ...o });

  it('builds pool members with ports, priorities, transports and addresses', () => {
    const s = site({});
    expect(s.pool.name).to.equal('sipproxy.example.com');
    expect(s.pool.members).to.deep.equal([
      { target: 'proxy1.example.com', port: 5060, priority: 10, weight: 50, transports: ['udp', 'tcp'], addresses: ['127.0.0.11', '::1'] },
      { target: 'proxy2.example.com', port: 5062, priority: 10, weight: 50, transports: ['udp'], addresses: ['127.0.0.12'] },
      { target: 'proxy3.example.com', port: 5061, priority: 20, weight: 10, transports: ['tls'], addresses: ['127.0.0.13'] },
    ]);
    expect(s.self.target).to.equal('proxy1.example.com');
    expect(s.local).to.deep.equal(['proxy1.example.com']);
  });

  it('builds an HA pair: lower priority number is the primary, whatever the record order', () => {
    const s = site({});
    expect(s.pairs).to.have.length(1);
    expect(s.servingPair).to.equal(s.pairs[0]);
    expect(s.pairs[0]).to.deep.equal({
      name: 'tserver.example.com',
      members: [
        { target: 'sips-a.example.com', port: 5060, address: '127.0.0.21', addresses: ['127.0.0.21'], role: 'primary', transport: 'udp' },
        { target: 'sips-b.example.com', port: 5070, address: '127.0.0.22', addresses: ['127.0.0.22'], role: 'backup', transport: 'udp' },
      ],
    });
  });

  it('falls back to _sip._tcp for a pair without _sip._udp; AAAA-only members work', () => {
    const p = site({ pairs: ['tcponly.example.com'] }).pairs[0];
    expect(p.members.map((m) => [m.role, m.transport, m.address])).to.deep.equal([['primary', 'tcp', '127.0.0.21'], ['backup', 'tcp', '::1']]);
  });

  it('accepts names with or without trailing dot, in any case', () => {
    const s = buildSite(zones, { self: 'PROXY2.Example.COM.', pairs: ['TServer.example.com.', 'tcponly.example.com'], pool: 'SipProxy.example.com.', servingPair: 'TCPONLY.example.com.', local: ['Proxy3.example.com.'] });
    expect(s.self.target).to.equal('proxy2.example.com');
    expect(s.servingPair.name).to.equal('tcponly.example.com');
    expect(s.local).to.deep.equal(['proxy2.example.com', 'proxy3.example.com']);
  });

  it('finds the pool from --self when --pool is not given', () => {
    const s = buildSite(zones, { self: 'proxy3.example.com', pairs: ['tserver.example.com'] });
    expect(s.pool.name).to.equal('sipproxy.example.com');
  });

  const REFUSALS: { name: string; opts: Partial<SiteOptions>; message: string | RegExp; own?: boolean }[] = [
    { name: '--self not a pool target', opts: { self: 'proxy9.example.com' }, own: true,
      message: '--self proxy9.example.com is not an SRV target of sipproxy.example.com (_sip._udp/_sip._tcp/_sips._tcp); own proxy address not found in the list' },
    { name: '--self not a target of any pool (no --pool)', opts: { self: 'proxy9.example.com', pool: undefined }, own: true,
      message: /--self proxy9\.example\.com is not an SRV target of any pool .*own proxy address not found in the list/ },
    { name: '--self in several pools', opts: { pool: undefined }, message: /several pools \(otherpool\.example\.com, sipproxy\.example\.com\); name one with --pool/ },
    { name: 'a pool with no SRV records', opts: { pool: 'nopool.example.com' }, message: /--pool nopool\.example\.com has no SRV records/ },
    { name: 'a pool outside the zones', opts: { pool: 'sip.other.test' }, message: /not inside any served zone/ },
    { name: 'no --pair', opts: { pairs: [] }, message: /--pair is required/ },
    { name: 'a pair twice', opts: { pairs: ['tserver.example.com', 'TSERVER.example.com.'] }, message: /--pair tserver\.example\.com is given more than once/ },
    { name: 'a pair with no SRV', opts: { pairs: ['nothing.example.com'] }, message: /no _sip\._udp\.nothing\.example\.com or _sip\._tcp\.nothing\.example\.com SRV records/ },
    { name: 'a pair with three targets', opts: { pairs: ['three.example.com'] }, message: /_sip\._udp\.three\.example\.com must list exactly two SRV targets \(primary and backup\); found 3/ },
    { name: 'a pair with one target', opts: { pairs: ['one.example.com'] }, message: /exactly two SRV targets.*found 1/ },
    { name: 'a pair with equal priorities', opts: { pairs: ['tie.example.com'] }, message: /both _sip\._udp\.tie\.example\.com targets have priority 5/ },
    { name: 'a pair member without address', opts: { pairs: ['noaddr.example.com'] }, message: /backup elsewhere\.test has no A or AAAA record/ },
    { name: '--serving-pair not among --pair', opts: { servingPair: 'tcponly.example.com' }, message: /--serving-pair tcponly\.example\.com is not one of the --pair names/ },
    { name: '--self a member of a --pair', opts: { self: 'sips-a.example.com', pool: undefined },
      message: '--self sips-a.example.com is a member of --pair tserver.example.com (_sip._udp.tserver.example.com. SRV 10 0 5060 sips-a.example.com.); --self must name a proxy instance, an SRV target of the pool' },
    { name: 'the pool is a pair', opts: { pool: 'tserver.example.com' },
      message: /^--pair tserver\.example\.com is the pool \(_sip\._udp\.tserver\.example\.com\. SRV 20 0 5070 sips-b\.example\.com\.; _sip\._udp\.tserver\.example\.com\. SRV 10 0 5060 sips-a\.example\.com\.\)/ },
    { name: "a pair's target is a pool member", opts: { pairs: ['crossed.example.com'] },
      message: '--pair crossed.example.com: primary proxy2.example.com is also a member of the pool sipproxy.example.com (_sip._udp.sipproxy.example.com. SRV 10 50 5062 proxy2.example.com.); a SIP Server cannot be a proxy instance' },
    { name: '--serving-pair names SRV records that are not a --pair', opts: { pairs: ['tserver.example.com'], servingPair: 'tcponly.example.com' },
      message: '--serving-pair tcponly.example.com is not one of the --pair names (tserver.example.com); _sip._tcp.tcponly.example.com is in the zones: add --pair tcponly.example.com' },
    { name: '--local not a pool member', opts: { local: ['sips-a.example.com'] }, message: /--local sips-a\.example\.com is not a member of the pool/ },
  ];

  for (const r of REFUSALS) {
    it(`refuses: ${r.name}`, () => {
      let err: unknown;
      try { site(r.opts); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(SiteError);
      const e = err as SiteError;
      expect(e.code).to.equal('SRV_ERR_SITE');
      if (typeof r.message === 'string') expect(e.message).to.equal(r.message);
      else expect(e.message).to.match(r.message);
      expect(e instanceof OwnAddressNotInPoolError).to.equal(r.own === true);
      if (r.own) expect((e as OwnAddressNotInPoolError).event).to.equal('SRV-40000');
    });
  }

  it('builds the demo site from the shipped zone', () => {
    const shipped = loadZones([new URL('../../../../zones', import.meta.url).pathname]);
    const s = buildSite(shipped, { self: 'proxy2.example.com', pairs: ['tserver.example.com'] });
    expect(s.pool.members.map((m) => [m.target, m.port, m.addresses[0], m.transports.join('+')])).to.deep.equal([
      ['proxy1.example.com', 5060, '127.0.0.11', 'udp+tcp'], ['proxy2.example.com', 5060, '127.0.0.12', 'udp+tcp']]);
    expect(s.servingPair.members.map((m) => [m.target, m.address, m.role])).to.deep.equal([
      ['sips-a.example.com', '127.0.0.21', 'primary'], ['sips-b.example.com', '127.0.0.22', 'backup']]);
  });
});
