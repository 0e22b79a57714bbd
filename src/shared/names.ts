/**
 * shared/names: the one spelling of a domain name inside srvproxy:
 * lower case, absolute, no trailing dot ("sipproxy.example.com"; the root is "").
 * May import: nothing.
 */

export function canonicalName(name: string): string {
  let n = name.trim().toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  return n;
}

/** True when `name` is `zone` or below it (both canonical). */
export function isInZone(name: string, zone: string): boolean {
  if (zone === '') return true;
  const d = name.length - zone.length - 1;
  return name === zone || (d > 0 && name.charCodeAt(d) === 46 && name.endsWith(zone));
}
