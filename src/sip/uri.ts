/**
 * sip/uri: SIP URI parsing for routing decisions. Package `sip` parses the
 * common case; it cannot read IPv6 references (`[::1]`), so a small parser
 * here covers those (RFC 3261 §19.1.1, RFC 5118). May import: shared, package sip.
 */
import sip, { type SipUri } from 'sip';
import { isIP } from 'node:net';

const V6_URI = /^(sips?):(?:([^@;?>\s]*)@)?\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?((?:;[^;?\s]*)*)(?:\?(\S*))?$/i;

/** Parses a SIP/SIPS URI; undefined when it is not one. Never throws. */
export function parseSipUri(text: string): SipUri | undefined {
  if (typeof text !== 'string' || text.length > 4096) return undefined;
  let u: SipUri | undefined;
  try {
    u = sip.parseUri(text);
  } catch {
    u = undefined;
  }
  if (u) return u;
  if (text.indexOf('[') < 0) return undefined;
  const m = V6_URI.exec(text);
  if (!m || isIP(m[3]) !== 6) return undefined;
  const params: Record<string, string | null> = {};
  for (const p of m[5].split(';')) {
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params[p.toLowerCase()] = null;
    else params[p.slice(0, eq).toLowerCase()] = p.slice(eq + 1);
  }
  const headers: Record<string, string> = {};
  if (m[6]) {
    for (const h of m[6].split('&')) {
      const eq = h.indexOf('=');
      if (eq > 0) headers[h.slice(0, eq)] = h.slice(eq + 1);
    }
  }
  let user = m[2];
  let password: string | undefined;
  if (user !== undefined) {
    const c = user.indexOf(':');
    if (c >= 0) {
      password = user.slice(c + 1);
      user = user.slice(0, c);
    }
  }
  return {
    schema: m[1].toLowerCase(),
    user,
    password,
    host: '[' + m[3].toLowerCase() + ']',
    port: m[4] ? Number(m[4]) : NaN,
    params,
    headers,
  };
}

/** The host of a URI as an address or canonical name: brackets removed, lower case, no trailing dot. */
export function uriHost(u: SipUri): string {
  let h = u.host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** The explicit port of a URI, or undefined. */
export function uriPort(u: SipUri): number | undefined {
  const p = u.port;
  return typeof p === 'number' && p > 0 && p < 65536 ? p : undefined;
}

/** `host` ready for a URI or Via: IPv6 addresses in brackets. */
export function hostForUri(address: string): string {
  return isIP(address) === 6 ? '[' + address + ']' : address;
}
