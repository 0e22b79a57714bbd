/**
 * Loading zone files and folders into an immutable ZoneSet: origins from
 * file names or $ORIGIN, lookup by canonical name and type, empty
 * non-terminals, longest-match zone finding, all-or-nothing loading.
 */
import { expect } from 'chai';
import { ZoneError } from '../../../src/shared/errors.js';
import { canonicalName } from '../../../src/shared/names.js';
import { checkZoneFiles, loadZones, originFromFileName } from '../../../src/zone/load.js';
import { fileURLToPath } from 'node:url';
import { HEAD, ZoneDir } from '../../support/zone-dir.js';

/** The repository's zones/ folder (this file runs from dist/test/unit/zone/). */
const SHIPPED = fileURLToPath(new URL('../../../../zones', import.meta.url));

describe('zone loading and the snapshot', () => {
  const dir = new ZoneDir();
  after(() => dir.cleanup());

  it('loads every *.zone file of a folder, sorted, ignoring other files', () => {
    const d = dir.sub();
    const rel = d.slice(dir.root.length + 1);
    dir.write(`${rel}/b.test.zone`, HEAD);
    dir.write(`${rel}/a.test.zone`, HEAD);
    dir.write(`${rel}/hosts.inc`, 'this is not a zone\n');
    dir.write(`${rel}/README`, 'notes\n');
    const set = loadZones([d]);
    expect(set.zones.map((z) => z.origin)).to.deep.equal(['a.test', 'b.test']);
  });

  it('takes the origin from the file name, or from a leading $ORIGIN', () => {
    expect(originFromFileName('zones/Example.COM.zone')).to.equal('example.com');
    expect(originFromFileName('zones/example.com')).to.equal(undefined);
    const f = dir.write('o/site-a.zone', '$ORIGIN voice.example.net.\n' + HEAD);
    const set = loadZones([f]);
    expect(set.zones[0].origin).to.equal('voice.example.net');
    expect(set.zones[0].soa.name).to.equal('voice.example.net');
  });

  it('refuses a file whose origin cannot be told', () => {
    const f = dir.write('o/zonefile.txt', HEAD);
    expect(() => loadZones([f])).to.throw(ZoneError, /no origin: name the file ORIGIN\.zone or start it with \$ORIGIN/);
  });

  it('looks up by canonical name and type; names include empty non-terminals', () => {
    const f = dir.write('l/example.com.zone', HEAD + '_sip._udp.sipproxy SRV 10 50 5060 ns1\nsipproxy A 127.0.0.2\nTXT-Host TXT "a"\n');
    const zone = loadZones([f]).zones[0];
    expect(zone.lookup(canonicalName('SIPPROXY.Example.com.'), 'A').map((r) => r.data.address)).to.deep.equal(['127.0.0.2']);
    expect(zone.lookup('_sip._udp.sipproxy.example.com', 'SRV')[0].data).to.deep.equal({ priority: 10, weight: 50, port: 5060, target: 'ns1.example.com' });
    expect(zone.lookup('sipproxy.example.com', 'AAAA')).to.deep.equal([]);
    expect(zone.lookup('nothere.example.com', 'A')).to.deep.equal([]);
    expect(zone.recordsAt('example.com').map((r) => r.type)).to.deep.equal(['SOA', 'NS']);
    expect([...zone.names].sort()).to.deep.equal([
      '_sip._udp.sipproxy.example.com', '_udp.sipproxy.example.com', 'example.com', 'ns1.example.com', 'sipproxy.example.com', 'txt-host.example.com']);
    expect(zone.files).to.deep.equal([f]);
  });

  it('is immutable', () => {
    const f = dir.write('i/example.com.zone', HEAD);
    const zone = loadZones([f]).zones[0];
    expect(() => (zone.records as unknown as unknown[]).push(1)).to.throw(TypeError);
    expect(() => { (zone.soa as { ttl: number }).ttl = 1; }).to.throw(TypeError);
    expect(() => (zone.lookup('example.com', 'NS') as unknown as unknown[]).pop()).to.throw(TypeError);
  });

  it('finds the zone of a name by longest match', () => {
    const d = dir.sub();
    const rel = d.slice(dir.root.length + 1);
    dir.write(`${rel}/example.com.zone`, HEAD + 'sub NS ns1.sub\nns1.sub A 127.0.0.3\n');
    dir.write(`${rel}/sub.example.com.zone`, HEAD);
    const set = loadZones([d]);
    expect(set.findZone('x.sub.example.com')?.origin).to.equal('sub.example.com');
    expect(set.findZone('sub.example.com')?.origin).to.equal('sub.example.com');
    expect(set.findZone('www.example.com')?.origin).to.equal('example.com');
    expect(set.findZone('example.com')?.origin).to.equal('example.com');
    expect(set.findZone('badexample.com')).to.equal(undefined);
    expect(set.findZone('example.org')).to.equal(undefined);
  });

  it('refuses the same origin twice', () => {
    const a = dir.write('dup/example.com.zone', HEAD);
    const b = dir.write('dup/other.zone', '$ORIGIN example.com.\n' + HEAD);
    expect(() => loadZones([a, b])).to.throw(ZoneError, /zone example\.com is also loaded from/);
  });

  it('is all or nothing: one bad file among good ones loads nothing and lists the problems of all files', () => {
    const d = dir.sub();
    const rel = d.slice(dir.root.length + 1);
    dir.write(`${rel}/a.test.zone`, HEAD);
    dir.write(`${rel}/b.test.zone`, HEAD + 'x A 1.2.3\n');
    dir.write(`${rel}/c.test.zone`, HEAD + 'y BLAH 1\n');
    try {
      loadZones([d]);
      expect.fail('loaded');
    } catch (e) {
      expect(e).to.be.instanceOf(ZoneError);
      const err = e as ZoneError;
      expect(err.code).to.equal('SRV_ERR_ZONE');
      expect(err.problems.map((p) => `${p.file.slice(d.length + 1)}:${p.line}`)).to.deep.equal(['b.test.zone:5', 'c.test.zone:5']);
      expect(err.message.split('\n')).to.have.length(2);
    }
  });

  it('an empty folder is an error, not an empty zone set', () => {
    expect(() => loadZones([dir.sub()])).to.throw(ZoneError, /no \*\.zone files/);
  });

  it('a file without TTL loads with the SOA MINIMUM, and check-zone warns about it', () => {
    const f = dir.write('w/example.com.zone', '@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 127.0.0.1\n');
    const set = loadZones([f]);
    expect(set.zones).to.have.length(1);
    expect(set.zones[0].soa.ttl).to.equal(5);
    const r = checkZoneFiles([f]);
    expect(r.problems).to.deep.equal([]);
    expect(r.warnings.map((w) => [w.file, w.line, w.message])).to.deep.equal([[f, 1, 'no TTL specified; using SOA MINIMUM instead']]);
  });

  it('loads the shipped example zone', () => {
    const set = loadZones([SHIPPED]);
    const z = set.findZone('sipproxy.example.com');
    expect(z?.origin).to.equal('example.com');
    expect(z?.soa.data.minimum).to.equal(5);
    expect(z?.lookup('_sip._udp.sipproxy.example.com', 'SRV').every((r) => r.ttl === 5)).to.equal(true);
  });
});
