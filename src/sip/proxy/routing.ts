/**
 * sip/proxy/routing: the routing decisions of the proxy core, as pure
 * functions of a request and the site index (DESIGN.md §7): own Route
 * stripping, what a URI host names, and where a request goes. No I/O here.
 * May import: zone/types, sip/codec, sip/transport, sip/proxy.
 */
import { isIP } from 'node:net';
import type { HaPair, PoolMember } from '../../zone/types.js';
import type { SipRequest, SipUri } from '../codec/codec.js';
import type { SiteIndex } from './site-index.js';
import type { ResolveQuery } from './resolver.js';
import type { Protocol } from '../transport/types.js';
import { defaultPort, namedTransport, parseSipUri, transportFor, uriHost, uriPort } from '../codec/uri.js';

/** What a URI's host names, from this instance's point of view. */
export type HostKind =
  | { kind: 'pair'; pair: HaPair }
  | { kind: 'self' }
  | { kind: 'peer'; member: PoolMember; port: number }
  | { kind: 'ip'; address: string; port: number }
  | { kind: 'name'; host: string };

export function classifyUri(u: SipUri, ix: SiteIndex): HostKind {
  const host = uriHost(u);
  const port = uriPort(u);
  const pair = ix.pairByName.get(host);
  if (pair) return { kind: 'pair', pair };
  const byName = ix.memberByName.get(host);
  if (byName) return { kind: 'pair', pair: byName.pair };
  if (ix.ownNames.has(host)) return { kind: 'self' };
  if (isIP(host)) {
    if (ix.ownAddresses.has(host) && (port === undefined || ix.ownPorts.has(port))) return { kind: 'self' };
    const byAddr = ix.memberByAddress.get(host);
    if (byAddr) return { kind: 'pair', pair: byAddr.pair };
    const peer = ix.peerByAddress.get(host);
    if (peer && (port === undefined || port === peer.port)) return { kind: 'peer', member: peer, port: peer.port };
    return { kind: 'ip', address: host, port: port ?? defaultPort(transportFor(u)) };
  }
  const peer = ix.peerByName.get(host);
  if (peer) return { kind: 'peer', member: peer, port: port ?? peer.port };
  return { kind: 'name', host };
}

/** True when a Route or Request-URI names this instance (or its pool, or carries our `pair` parameter). */
function isOwnUri(u: SipUri, ix: SiteIndex): boolean {
  if (u.params && typeof u.params.pair === 'string') return true;
  return classifyUri(u, ix).kind === 'self';
}

export interface RouteStrip {
  /** The pair named by the `pair` parameter of a stripped own Route (the dialog's pair), if any. */
  dialogPair?: HaPair;
  /** The user part of the first stripped own Route that has one: a flow token (Path, Record-Route; sip/proxy/flows). */
  flowToken?: string;
}

/**
 * RFC 3261 §16.4: undo a strict router's rewrite (Request-URI = our Record-Route value),
 * then remove our own entries from the top of Route. Changes `req` in place.
 */
export function stripOwnRoutes(req: SipRequest, ix: SiteIndex): RouteStrip {
  const out: RouteStrip = {};
  const h = req.headers;
  const ruri = parseSipUri(req.uri);
  if (ruri && typeof ruri.params.pair === 'string' && isOwnUri(ruri, ix)) {
    out.dialogPair = ix.pair(ruri.params.pair);
    if (ruri.user) out.flowToken = ruri.user;
    if (h.route && h.route.length > 0) {
      const last = h.route[h.route.length - 1];
      h.route = h.route.slice(0, -1);
      req.uri = stringifyRouteUri(last.uri);
    }
  }
  while (h.route && h.route.length > 0 && isOwnUri(h.route[0].uri, ix)) {
    const top = h.route[0].uri;
    const p = top.params.pair;
    if (typeof p === 'string') out.dialogPair = ix.pair(p) ?? out.dialogPair;
    if (top.user && out.flowToken === undefined) out.flowToken = top.user;
    h.route = h.route.slice(1);
  }
  // undefined rather than delete: a deleted property turns the headers object into a slow dictionary
  if (h.route && h.route.length === 0) h.route = undefined;
  return out;
}

function stringifyRouteUri(u: SipUri): string {
  let s = (u.schema || 'sip') + ':';
  if (u.user) s += u.user + (u.password ? ':' + u.password : '') + '@';
  s += u.host;
  if (uriPort(u)) s += ':' + u.port;
  for (const k of Object.keys(u.params)) s += ';' + k + (u.params[k] != null ? '=' + u.params[k] : '');
  return s;
}

export type Decision =
  | { kind: 'pair'; pair: HaPair }
  | { kind: 'direct'; address: string; port: number; transport: Protocol }
  /** Outbound to a name (in the served zones or outside): RFC 3263 resolution (sip/proxy/resolver). */
  | { kind: 'resolve'; query: ResolveQuery }
  | { kind: 'reject'; status: number; reason: string };

/**
 * Where a request goes, after own Routes were stripped.
 * `fromMember`: the pair of the member it came from (outbound), or undefined (inbound).
 */
export function decide(req: SipRequest, ix: SiteIndex, strip: RouteStrip, fromMember: HaPair | undefined): Decision {
  const route = req.headers.route;
  const ruri = parseSipUri(req.uri);
  // RFC 3261 §16.3 step 2: sip, sips and tel are routed (a tel: URI has no host: inbound it goes to the serving
  // pair, outbound it needs a Route); any other scheme gets 416
  if (!ruri && !(isTelUri(req.uri) && (!fromMember || (route && route.length > 0)))) return { kind: 'reject', status: 416, reason: 'Unsupported URI Scheme' };
  if (!fromMember) {
    // inbound: only ever to a pair member (no open relay). A preloaded Route (RFC 3261 §8.1.2) naming a
    // host of the site's own domain that the zones do not name (RFC 4475 §3.1.1.1: services.example.com)
    // is carried to the serving pair, whose servers own that domain's services; a Route to another domain,
    // to an address outside the site, to another instance or to this one out of place is a relay attempt: 403.
    if (route && route.length > 0) {
      const r = classifyUri(route[0].uri, ix);
      if (r.kind === 'pair') return { kind: 'pair', pair: r.pair };
      if (r.kind === 'name' && inOwnZone(r.host, ix)) return { kind: 'pair', pair: strip.dialogPair ?? ix.site.servingPair };
      return { kind: 'reject', status: 403, reason: 'Route Not Allowed' };
    }
    const t = ruri && classifyUri(ruri, ix);
    if (t && t.kind === 'pair') return { kind: 'pair', pair: t.pair };
    return { kind: 'pair', pair: strip.dialogPair ?? ix.site.servingPair };
  }
  // outbound: by Route, else by Request-URI
  const u = route && route.length > 0 ? route[0].uri : ruri!;
  const t = classifyUri(u, ix);
  switch (t.kind) {
    case 'pair':
      return { kind: 'pair', pair: t.pair };
    case 'peer':
      return { kind: 'direct', address: t.member.addresses[0], port: t.port, transport: transportFor(u) };
    case 'ip':
      return { kind: 'direct', address: t.address, port: t.port, transport: transportFor(u) };
    case 'self':
      return { kind: 'reject', status: 404, reason: 'Not Found' };
    case 'name':
      // RFC 3263 (sip/proxy/resolver): a name in the served zones from the zone data, any other by DNS
      return { kind: 'resolve', query: { host: t.host, port: uriPort(u), transport: namedTransport(u), secure: u.schema === 'sips' } };
  }
}

/** A tel: URI (RFC 3966), scheme in any case. */
function isTelUri(uri: string): boolean {
  return uri.length > 4 && uri.charCodeAt(3) === 58 /* : */ && uri.slice(0, 3).toLowerCase() === 'tel';
}

/** The domain of the served zone, as the pool FQDN implies it (the pool name minus its first label). */
function inOwnZone(host: string, ix: SiteIndex): boolean {
  const pool = ix.poolName;
  const dot = pool.indexOf('.');
  const zone = dot > 0 && pool.indexOf('.', dot + 1) > 0 ? pool.slice(dot + 1) : pool;
  return host === zone || host.endsWith('.' + zone);
}

/** RFC 3261 §16.6 step 8 / §16.3 step 4: the fields whose hash goes into our branch for loop detection. */
export function loopKey(req: SipRequest): string {
  const h = req.headers;
  const r = h.route && h.route.length ? h.route[0].uri.host + ':' + (h.route[0].uri.port ?? '') : '';
  return (
    req.uri + '|' + r + '|' + h['call-id'] + '|' + (h.from.params.tag ?? '') + '|' + (h.to.params.tag ?? '') + '|' +
    h.cseq.seq + '|' + (typeof h['proxy-require'] === 'string' ? h['proxy-require'] : '')
  );
}
