/**
 * A site zone for end-to-end tests, written to a temporary folder: a pool of
 * proxy instances and HA pairs, on the loopback addresses and ports given.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ZoneMember {
  name: string;
  address: string;
  port: number;
  /** SRV priority of a pool member (proxies only; default 10). */
  priority?: number;
}

export interface SiteZoneSpec {
  origin?: string;
  pool?: string;
  proxies: ZoneMember[];
  /** pair name -> [primary, backup] */
  pairs: Record<string, [ZoneMember, ZoneMember]>;
  ttl?: number;
  serial?: number;
}

export function siteZoneText(spec: SiteZoneSpec): string {
  const origin = spec.origin ?? 'example.com';
  const pool = spec.pool ?? 'sipproxy';
  const lines = [
    `$ORIGIN ${origin}.`,
    `$TTL ${spec.ttl ?? 5}`,
    `@ SOA ns1 hostmaster ${spec.serial ?? 2026112501} 3600 600 86400 5`,
    `@ NS ns1`,
    `ns1 A 127.0.0.1`,
  ];
  for (const p of spec.proxies) lines.push(`${p.name} A ${p.address}`);
  for (const p of spec.proxies) {
    lines.push(`_sip._udp.${pool} SRV ${p.priority ?? 10} 50 ${p.port} ${p.name}`);
    lines.push(`_sip._tcp.${pool} SRV ${p.priority ?? 10} 50 ${p.port} ${p.name}`);
    lines.push(`${pool} A ${p.address}`);
  }
  lines.push(`${pool} NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.${pool}`);
  lines.push(`${pool} NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.${pool}`);
  for (const [pair, [a, b]] of Object.entries(spec.pairs)) {
    lines.push(`${a.name} A ${a.address}`, `${b.name} A ${b.address}`);
    lines.push(`_sip._udp.${pair} SRV 10 0 ${a.port} ${a.name}`);
    lines.push(`_sip._udp.${pair} SRV 20 0 ${b.port} ${b.name}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes the zone as DIR/ORIGIN.zone and returns DIR (a fresh temporary folder). */
export function writeSiteZone(spec: SiteZoneSpec): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-zone-'));
  fs.writeFileSync(path.join(dir, `${spec.origin ?? 'example.com'}.zone`), siteZoneText(spec));
  return dir;
}
