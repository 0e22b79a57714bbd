/**
 * test/support/big-zone: a large zone of a realistic mix, for the reload
 * e2e test and the zone benchmark (scripts/bench/gen-zone.mjs prints it).
 * The site of DESIGN.md §1 (pool sipproxy: proxy1/proxy2 on 127.0.0.11/12;
 * pair tserver on 127.0.0.21/22), then blocks of 10 records under their own
 * names: A, AAAA, MX, TXT, CNAME, SRV (udp, tcp, tls) and NAPTR per host.
 * Deterministic: the same arguments give the same text.
 */

/** About `records` records (a multiple of 10 past the site's 14). */
export function bigZoneText(records: number, origin = 'example.com', serial = 2026120301): string {
  const lines = [
    `$ORIGIN ${origin}.`,
    '$TTL 30',
    `@ SOA ns1 hostmaster ${serial} 3600 600 86400 5`,
    '@ NS proxy1',
    '@ NS proxy2',
    'proxy1 A 127.0.0.11',
    'proxy2 A 127.0.0.12',
    'sips-a A 127.0.0.21',
    'sips-b A 127.0.0.22',
    '_sip._udp.sipproxy SRV 10 50 5060 proxy1',
    '_sip._udp.sipproxy SRV 10 50 5060 proxy2',
    'sipproxy NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.sipproxy',
    '_sip._udp.tserver SRV 10 0 5060 sips-a',
    '_sip._udp.tserver SRV 20 0 5060 sips-b',
  ];
  const blocks = Math.max(0, Math.ceil((records - lines.length + 2) / 10));
  for (let i = 0; i < blocks; i++) {
    const h = `h${i}`;
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    lines.push(
      `${h} A ${a}`,
      `${h} AAAA 2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`,
      `${h} MX 10 ${h}`,
      `${h} TXT "v=spf1 ip4:${a} -all" "site ${i % 97}"`,
      `www.${h} CNAME ${h}`,
      `_sip._udp.${h} SRV 10 50 5060 ${h}`,
      `_sip._tcp.${h} SRV 20 50 5060 ${h}`,
      `_sips._tcp.${h} 60 IN SRV 30 50 5061 ${h}.${origin}.`,
      `${h} NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.${h}`,
      `${h} NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.${h}`,
    );
  }
  return lines.join('\n') + '\n';
}
