/**
 * Every master-file syntax form srvproxy accepts, table-driven: zone text
 * written to a temp folder, parsed, and the records compared in canonical
 * text form (as `named-checkzone -D` would print them).
 */
import { expect } from 'chai';
import { parseZoneFile } from '../../../src/zone/parser.js';
import { formatRR } from '../../../src/zone/present.js';
import { HEAD, ZoneDir } from '../../support/zone-dir.js';

const HEAD_RRS = [
  'example.com. 30 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 5',
  'example.com. 30 IN NS ns1.example.com.',
  'ns1.example.com. 30 IN A 127.0.0.1',
];

interface Case {
  name: string;
  /** Zone text after HEAD (or the whole file when `whole`). */
  body: string;
  whole?: boolean;
  /** Records other than HEAD's, canonical text, in file order. */
  want: string[];
}

const CASES: Case[] = [
  { name: 'relative name', body: 'www A 127.0.0.2\n', want: ['www.example.com. 30 IN A 127.0.0.2'] },
  { name: 'absolute name', body: 'www.example.com. A 127.0.0.2\n', want: ['www.example.com. 30 IN A 127.0.0.2'] },
  { name: '@ is the origin', body: '@ A 127.0.0.2\n', want: ['example.com. 30 IN A 127.0.0.2'] },
  { name: 'names are case-insensitive (canonical lower case)', body: 'WWW.Example.COM. A 127.0.0.2\nMail MX 10 WWW\n', want: [
    'www.example.com. 30 IN A 127.0.0.2', 'mail.example.com. 30 IN MX 10 www.example.com.'] },
  { name: 'omitted owner repeats the previous owner', body: 'www A 127.0.0.2\n  A 127.0.0.3\n\tTXT "x"\n', want: [
    'www.example.com. 30 IN A 127.0.0.2', 'www.example.com. 30 IN A 127.0.0.3', 'www.example.com. 30 IN TXT "x"'] },
  { name: 'explicit TTL and class in either order', body: 'a 60 IN A 127.0.0.2\nb IN 70 A 127.0.0.3\nc in a 127.0.0.4\nd 80 A 127.0.0.5\n', want: [
    'a.example.com. 60 IN A 127.0.0.2', 'b.example.com. 70 IN A 127.0.0.3', 'c.example.com. 30 IN A 127.0.0.4', 'd.example.com. 80 IN A 127.0.0.5'] },
  { name: 'TTL units (BIND style)', body: 'a 1h30m A 127.0.0.2\nb 1W2d A 127.0.0.3\nc 1h30 A 127.0.0.4\nd 90S A 127.0.0.5\n', want: [
    'a.example.com. 5400 IN A 127.0.0.2', 'b.example.com. 777600 IN A 127.0.0.3', 'c.example.com. 3630 IN A 127.0.0.4', 'd.example.com. 90 IN A 127.0.0.5'] },
  { name: '$TTL with units applies to later records', body: '$TTL 2m\nx A 127.0.0.2\n', want: ['x.example.com. 120 IN A 127.0.0.2'] },
  { name: '$ORIGIN changes relative names', body: '$ORIGIN sub.example.com.\nx A 127.0.0.2\n@ TXT "at sub"\n$ORIGIN deeper\ny A 127.0.0.3\n', want: [
    'x.sub.example.com. 30 IN A 127.0.0.2', 'sub.example.com. 30 IN TXT "at sub"', 'y.deeper.sub.example.com. 30 IN A 127.0.0.3'] },
  { name: 'multi-line parentheses with comments', body: '_sip._udp SRV ( 10 ; priority\n  50 ; weight\n  5060 ) ns1 ; port, target\n', want: [
    '_sip._udp.example.com. 30 IN SRV 10 50 5060 ns1.example.com.'] },
  { name: 'comments everywhere', body: '; a comment line\nx A 127.0.0.2 ; trailing\n   ; indented comment\ny A 127.0.0.3\n', want: [
    'x.example.com. 30 IN A 127.0.0.2', 'y.example.com. 30 IN A 127.0.0.3'] },
  { name: 'quoted strings with \\DDD and \\X escapes', body: 't TXT "a\\"b" "\\065\\066" "semi;colon" "back\\\\slash" "\\255"\n', want: [
    't.example.com. 30 IN TXT "a\\"b" "AB" "semi;colon" "back\\\\slash" "\\255"'] },
  { name: 'unquoted character-strings and empty strings', body: 't TXT one two\\;three ""\n', want: ['t.example.com. 30 IN TXT "one" "two;three" ""'] },
  { name: 'TXT with parentheses over several lines', body: 't TXT ( "first"\n "second" )\n', want: ['t.example.com. 30 IN TXT "first" "second"'] },
  { name: 'AAAA canonical (compressed, lower case)', body: 'v6 AAAA 2001:DB8:0:0:0:0:0:1\nw6 AAAA ::1\nm6 AAAA ::ffff:127.0.0.1\n', want: [
    'v6.example.com. 30 IN AAAA 2001:db8::1', 'w6.example.com. 30 IN AAAA ::1', 'm6.example.com. 30 IN AAAA ::ffff:7f00:1'] },
  { name: 'CNAME and PTR', body: 'alias CNAME ns1\nptr PTR host.elsewhere.test.\n', want: [
    'alias.example.com. 30 IN CNAME ns1.example.com.', 'ptr.example.com. 30 IN PTR host.elsewhere.test.'] },
  { name: 'NAPTR with empty regexp and with a regexp', body: 'sipproxy NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.sipproxy\nn NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .\n_sip._udp.sipproxy SRV 0 0 5060 ns1\n', want: [
    'sipproxy.example.com. 30 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.sipproxy.example.com.',
    'n.example.com. 30 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .',
    '_sip._udp.sipproxy.example.com. 30 IN SRV 0 0 5060 ns1.example.com.'] },
  { name: 'MX and CAA', body: '@ MX 10 ns1\n@ CAA 0 issue "letsencrypt.org"\n@ CAA 128 iodef "mailto:ops@example.com"\n', want: [
    'example.com. 30 IN MX 10 ns1.example.com.', 'example.com. 30 IN CAA 0 issue "letsencrypt.org"', 'example.com. 30 IN CAA 128 iodef "mailto:ops@example.com"'] },
  { name: 'SRV target "." (service not offered)', body: '_sip._tcp SRV 0 0 0 .\n', want: ['_sip._tcp.example.com. 30 IN SRV 0 0 0 .'] },
  { name: 'wildcard owner', body: '*.w A 127.0.0.2\n', want: ['*.w.example.com. 30 IN A 127.0.0.2'] },
  { name: 'CRLF line ends', body: 'x A 127.0.0.2\r\ny A 127.0.0.3\r\n', want: ['x.example.com. 30 IN A 127.0.0.2', 'y.example.com. 30 IN A 127.0.0.3'] },
  { name: 'no newline at end of file', body: 'x A 127.0.0.2', want: ['x.example.com. 30 IN A 127.0.0.2'] },
  { name: 'no $TTL: explicit TTL carries on (RFC 1035)', whole: true,
    body: '@ 100 SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 127.0.0.1\nx 60 A 127.0.0.2\ny A 127.0.0.3\n', want: [
      'example.com. 100 IN SOA ns1.example.com. hostmaster.example.com. 1 2 3 4 5', 'example.com. 100 IN NS ns1.example.com.',
      'ns1.example.com. 100 IN A 127.0.0.1', 'x.example.com. 60 IN A 127.0.0.2', 'y.example.com. 60 IN A 127.0.0.3'] },
  { name: 'no $TTL and no SOA TTL: SOA MINIMUM becomes the default (BIND)', whole: true,
    body: '@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nx 60 A 127.0.0.2\ny A 127.0.0.3\n', want: [
      'example.com. 5 IN SOA ns1.example.com. hostmaster.example.com. 1 2 3 4 5', 'example.com. 5 IN NS ns1.example.com.',
      'x.example.com. 60 IN A 127.0.0.2', 'y.example.com. 5 IN A 127.0.0.3'] },
  { name: 'SOA timers with units', whole: true, body: '$TTL 1h\n@ SOA ns1 hostmaster ( 2026112501 1h 10m 1w 5s )\n', want: [
    'example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026112501 3600 600 604800 5'] },
];

describe('zone parser: syntax forms', () => {
  const dir = new ZoneDir();
  after(() => dir.cleanup());

  for (const c of CASES) {
    it(c.name, () => {
      const file = dir.write(`${dir.sub().slice(dir.root.length + 1)}/example.com.zone`, c.whole ? c.body : HEAD + c.body);
      const r = parseZoneFile(file, 'example.com');
      expect(r.problems).to.deep.equal([]);
      const got = r.records.map(formatRR);
      expect(got).to.deep.equal(c.whole ? c.want : [...HEAD_RRS, ...c.want]);
    });
  }

  it('records carry their file and line (the first line of a multi-line record)', () => {
    const file = dir.write('lines/example.com.zone', HEAD + 'x A 127.0.0.2\n\n_s._udp SRV (\n 1 2\n 3 ns1 )\ny A 127.0.0.3\n');
    const r = parseZoneFile(file, 'example.com');
    expect(r.records.slice(3).map((rr) => [rr.file, rr.line])).to.deep.equal([[file, 5], [file, 7], [file, 10]]);
  });

  it('warns (not fails) when the SOA supplies the missing TTL, like named-checkzone', () => {
    const file = dir.write('warn/example.com.zone', '@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n');
    const r = parseZoneFile(file, 'example.com');
    expect(r.problems).to.deep.equal([]);
    expect(r.warnings).to.deep.equal([{ file, line: 1, message: 'no TTL specified; using SOA MINIMUM instead' }]);
  });

  it('$INCLUDE: relative to the including file, optional origin, origin and owner restored after', () => {
    const sub = dir.sub();
    dir.write(`${sub.slice(dir.root.length + 1)}/parts/hosts.inc`, 'h1 A 127.0.0.5\n$ORIGIN elsewhere.example.com.\nh2 A 127.0.0.6\n');
    const file = dir.write(`${sub.slice(dir.root.length + 1)}/example.com.zone`,
      HEAD + 'own A 127.0.0.2\n$INCLUDE parts/hosts.inc sub\n  A 127.0.0.3\n$INCLUDE "parts/hosts.inc"\n');
    const r = parseZoneFile(file, 'example.com');
    expect(r.problems).to.deep.equal([]);
    expect(r.records.slice(3).map(formatRR)).to.deep.equal([
      'own.example.com. 30 IN A 127.0.0.2',
      'h1.sub.example.com. 30 IN A 127.0.0.5', 'h2.elsewhere.example.com. 30 IN A 127.0.0.6',
      'own.example.com. 30 IN A 127.0.0.3',
      'h1.example.com. 30 IN A 127.0.0.5', 'h2.elsewhere.example.com. 30 IN A 127.0.0.6',
    ]);
    expect(r.files.map((f) => f.slice(sub.length + 1))).to.deep.equal(['example.com.zone', 'parts/hosts.inc', 'parts/hosts.inc']);
  });

  it('$ORIGIN before the first record sets the zone origin', () => {
    const file = dir.write('origin/anything.zone', '$ORIGIN other.test.\n' + HEAD);
    const r = parseZoneFile(file, 'anything');
    expect(r.origin).to.equal('other.test');
    expect(r.records[0].name).to.equal('other.test');
  });
});
