/**
 * test/support/dns-zone: the zone text the DNS tests answer from, loaded with
 * the product's own loader (loadZones) from a temporary folder, and the pool
 * members it defines.
 */
import { loadZones } from '../../src/zone/load.js';
import type { PoolMember, ZoneSet } from '../../src/zone/types.js';
import { ZoneDir } from './zone-dir.js';

/** A site zone exercising every answer shape: pool SRV/NAPTR/A, CNAME chains, MX, TXT, delegation, ENT, a large RRset. */
export const DNS_TEST_ZONE = `$ORIGIN example.com.
$TTL 30
@                 SOA   ns1 hostmaster 2026112501 3600 600 86400 5
@                 NS    ns1
@                 NS    ns2
ns1               A     127.0.0.1
ns2               A     127.0.0.2
proxy1            A     127.0.0.11
proxy1            AAAA  2001:db8::11
proxy2            A     127.0.0.12
proxy3            A     127.0.0.13
_sip._udp.sipproxy  5 SRV  10 50 5060 proxy1
_sip._udp.sipproxy  5 SRV  10 50 5060 proxy2
_sip._udp.sipproxy  5 SRV  20 50 5060 proxy3
_sip._tcp.sipproxy  5 SRV  10 50 5060 proxy1
_sip._tcp.sipproxy  5 SRV  10 50 5060 proxy2
sipproxy          5 NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.sipproxy
sipproxy          5 NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.sipproxy
sipproxy          5 A     127.0.0.11
sipproxy          5 A     127.0.0.12
sipproxy          5 A     127.0.0.13
www               CNAME proxy1
alias             CNAME www
outside           CNAME host.example.net.
txt               TXT   "hello world" "two"
mail              MX    10 proxy1
sub               NS    ns.sub
ns.sub            A     127.0.0.53
a.b.c             TXT   "deep"
sips-a            A     127.0.0.21
sips-b            A     127.0.0.22
_sip._udp.tserver SRV   10 0 5060 sips-a
_sip._udp.tserver SRV   20 0 5060 sips-b
${Array.from({ length: 8 }, (_, i) => `_sip._udp.wide SRV 10 10 5060 w${i}\nw${i} A 127.0.1.${i}\nw${i} AAAA 2001:db8::1:${i}`).join('\n')}
${Array.from({ length: 40 }, (_, i) => `big TXT "record ${String(i).padStart(2, '0')} ${'x'.repeat(40)}"`).join('\n')}
`;

/** Load zone texts (file name -> text) with loadZones; the folder is removed at once. */
export function zonesFromText(files: Record<string, string>): ZoneSet {
  const dir = new ZoneDir();
  try {
    return loadZones(Object.entries(files).map(([name, text]) => dir.write(name, text)));
  } finally {
    dir.cleanup();
  }
}

/** The pool of DNS_TEST_ZONE: sipproxy.example.com, members proxy1..3. */
export function testPoolMembers(): PoolMember[] {
  return [
    { target: 'proxy1.example.com', port: 5060, priority: 10, weight: 50, transports: ['udp', 'tcp'], addresses: ['127.0.0.11', '2001:db8::11'] },
    { target: 'proxy2.example.com', port: 5060, priority: 10, weight: 50, transports: ['udp', 'tcp'], addresses: ['127.0.0.12'] },
    { target: 'proxy3.example.com', port: 5060, priority: 20, weight: 50, transports: ['udp'], addresses: ['127.0.0.13'] },
  ];
}
