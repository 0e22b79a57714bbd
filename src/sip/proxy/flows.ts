/**
 * sip/proxy/flows: reaching user agents back over their own flows (RFC 5626
 * outbound, RFC 3327 Path; DESIGN.md §8). What the proxy core asks of it:
 *  - on a REGISTER from a user agent: a flow token for the flow it came on,
 *    put into a Path entry on top (`<sip:TOKEN@POOL;lr>`, for registrars
 *    that honour Path) and into every Contact URI as `;srvflow=TOKEN` (for
 *    those that ignore it: the stored Contact then names the flow, as
 *    Kamailio's contact alias does). The 2xx on its way back loses the
 *    parameter again, so the user agent finds its own Contact URIs
 *    (RFC 3261 §10.2.4), and gains Flow-Timer when the user agent supports
 *    outbound (RFC 5626 §5.4);
 *  - on a request from a pair member or a peer instance: where it goes when
 *    it names a flow (the user part of our own Route, else the Request-URI's
 *    `srvflow`): down the flow when this instance holds it, to the holding
 *    instance when a peer does; 403 for a token that does not read or verify
 *    or names no instance of the pool, 430 for a flow that is gone;
 *  - the flows held, by transport, for ops.
 * Addresses come from the packet and the verified token only, never from the
 * message. May import: shared, zone/types, sip/codec, sip/transport, sip/proxy.
 */
import { isIP } from 'node:net';
import { plainAddress } from '../../shared/ip.js';
import type { SipRequest, SipResponse, SipAor, SipUri } from '../codec/codec.js';
import { hostForUri } from '../codec/uri.js';
import type { PoolMember } from '../../zone/types.js';
import type { Protocol, Remote } from '../transport/types.js';
import { FlowTokens, parseFlowToken, type Flow, type FlowHolder } from './flow-token.js';
import type { SiteIndex } from './site-index.js';

/** The Contact URI parameter that carries a flow token. */
export const FLOW_PARAM = 'srvflow';

/** Seconds between keepalives suggested to outbound user agents (RFC 5626 §5.4): under common NAT UDP timeouts, and under the TCP idle timeout. */
const FLOW_TIMER_UDP = 25;
const FLOW_TIMER_STREAM = 90;
/** Flows remembered for ops at most (a spoofed flood of UDP REGISTERs must not grow the table without bound). */
const MAX_FLOWS = 200_000;
const DEFAULT_EXPIRES_S = 3600;

export interface FlowCounters {
  /** Requests sent down a flow held here. */
  requests: number;
  /** Requests answered 430 (flow gone, holder gone). */
  failed: number;
  /** Requests answered 403 for a token that did not verify or named no instance. */
  tokenFailures: number;
}

/** Where a request that names a flow goes. */
export type FlowRoute =
  /** Down a flow this instance holds. */
  | { kind: 'down'; dest: Remote; token: string }
  /** To the peer instance that holds the flow. */
  | { kind: 'relay'; dest: Remote; token: string; holder: FlowHolder }
  | { kind: 'fail'; status: 403 | 430; reason: string };

export interface FlowsEnv {
  /** True while a TCP/TLS connection of this transport is open. */
  connectionOpen(conn: number): boolean;
  /** A peer instance known to be down (its withdrawal): a relay to it fails at once. */
  peerDown(peer: PoolMember): boolean;
  now(): number;
}

interface HeldFlow {
  transport: Protocol;
  conn: number;
  expiresAt: number;
}

export class Flows {
  readonly counters: FlowCounters = { requests: 0, failed: 0, tokenFailures: 0 };
  private readonly tokens: FlowTokens;
  /** Flows that registered, by flow key, for ops. */
  private readonly held = new Map<string, HeldFlow>();

  constructor(private readonly env: FlowsEnv, tokens?: FlowTokens) {
    this.tokens = tokens ?? new FlowTokens();
  }

  /** The flow a message arrived on. */
  static flowOf(remote: Remote): Flow {
    const protocol: Protocol = remote.protocol === 'udp' ? 'udp' : remote.secure ? 'tls' : 'tcp';
    return { protocol, address: plainAddress(remote.address), port: remote.port, conn: remote.conn ?? 0 };
  }

  /** A token for the flow `remote` arrived on, held by this instance (its address of the same family, as the zone lists it). */
  tokenFor(remote: Remote, ix: SiteIndex): string | undefined {
    const holder = holderOf(ix, remote.address);
    if (!holder) return undefined;
    return this.tokens.mint(holder, Flows.flowOf(remote));
  }

  /**
   * A REGISTER from a user agent, about to be forwarded (`out` is the copy that leaves): Path and
   * Contact carry the flow token. Returns false when no token could be made (no own address).
   */
  onRegister(out: SipRequest, remote: Remote, ix: SiteIndex): boolean {
    const token = this.tokenFor(remote, ix);
    if (!token) return false;
    const h = out.headers;
    const contacts = h.contact;
    let ob = false;
    if (Array.isArray(contacts)) {
      h.contact = contacts.map((c) => {
        if (c.params['reg-id'] !== undefined) ob = true;
        return { ...c, uri: withFlowParam(c.uri, token) };
      });
    }
    const params: Record<string, string | null> = { lr: null };
    if (ob) params.ob = null;
    h.path = [{ uri: { schema: 'sip', user: token, host: ix.poolName, params, headers: {} }, params: {} }, ...(h.path ?? [])];
    // a registrar in a strict Path mode (Kamailio's path_mode 2, with use_path on) refuses a Path that the
    // user agent did not say it supports (420): the Path is ours, so the support is declared for it
    if (!hasOptionTag(h.supported, 'path')) h.supported = typeof h.supported === 'string' && h.supported.trim() !== '' ? h.supported + ', path' : 'path';
    this.remember(remote, registerExpires(out));
    return true;
  }

  /**
   * A response to a REGISTER forwarded by onRegister, on its way back to the user agent: the 2xx's
   * Contacts lose the flow parameter; Flow-Timer added for an outbound user agent (RFC 5626 §5.4).
   */
  shapeRegisterResponse(res: SipResponse, req: SipRequest, remote: Remote): SipResponse {
    if (res.status < 200 || res.status >= 300) return res;
    const contacts = res.headers.contact;
    const headers = { ...res.headers };
    if (Array.isArray(contacts)) headers.contact = contacts.map((c) => (hasFlowParam(c.uri) ? { ...c, uri: withoutFlowParam(c.uri) } : c));
    if (headers['flow-timer'] === undefined && supportsOutbound(req)) {
      headers['flow-timer'] = String(remote.protocol === 'udp' ? FLOW_TIMER_UDP : FLOW_TIMER_STREAM);
    }
    return { ...res, headers };
  }

  /**
   * Where a request from a pair member or a peer instance goes when it names a flow: `routeToken`
   * is the user part of an own Route entry that was stripped (Path, Record-Route); otherwise the
   * Request-URI's flow parameter. undefined: it names no flow.
   */
  route(req: SipRequest, routeToken: string | undefined, ix: SiteIndex): FlowRoute | undefined {
    // our own Route's user part is a token (we put no other user there): one that does not read is
    // refused, never passed over for the Request-URI (an address the message chose)
    const text = routeToken ?? flowParamOf(req.uri);
    if (text === undefined) return undefined;
    const t = parseFlowToken(text);
    if (!t) return this.refuse();
    const h = t.holder;
    if (ix.ownAddresses.has(h.address) && ix.ownPorts.has(h.port)) {
      const c = this.tokens.check(t);
      if (!c.ok) return this.refuse();
      const f = c.flow;
      if (f.protocol !== 'udp' && !this.env.connectionOpen(f.conn)) return this.gone();
      const dest: Remote = { protocol: f.protocol, address: f.address, port: f.port, flow: true };
      if (f.protocol !== 'udp') dest.conn = f.conn;
      return { kind: 'down', dest, token: text };
    }
    const peer = ix.peerAt(h.address);
    if (!peer || peer.port !== h.port) return this.refuse();
    if (this.env.peerDown(peer)) return this.gone();
    const protocol: Protocol = peer.transports.includes('udp') || peer.transports.length === 0 ? 'udp' : 'tcp';
    return { kind: 'relay', dest: { protocol, address: h.address, port: h.port }, token: text, holder: h };
  }

  /**
   * Readies `out` (a copy that leaves) for where `fr` sends it: down a flow, the Request-URI loses the
   * flow parameter (the user agent gets its own Contact) and the request is counted; to the holding
   * instance, a Route naming it carries the token on top.
   */
  prepare(out: SipRequest, fr: FlowRoute & { kind: 'down' | 'relay' }): void {
    if (fr.kind === 'down') {
      out.uri = withoutFlowParam(out.uri);
      this.counters.requests++;
      return;
    }
    const uri: SipUri = { schema: 'sip', user: fr.token, host: hostForUri(fr.holder.address), port: fr.holder.port, params: { lr: null }, headers: {} };
    out.headers.route = [{ uri, params: {} }, ...(out.headers.route ?? [])];
  }

  /** Counts a 430 decided after sending (the flow or the holder failed on the way). */
  failedLater(): void {
    this.counters.failed++;
  }

  /** Flows held now (registered and not expired; TCP/TLS: connection still open), by transport. */
  heldByTransport(): Record<Protocol, number> {
    const out: Record<Protocol, number> = { udp: 0, tcp: 0, tls: 0 };
    const now = this.env.now();
    for (const [k, f] of this.held) {
      if (f.expiresAt <= now || (f.transport !== 'udp' && !this.env.connectionOpen(f.conn))) {
        this.held.delete(k);
        continue;
      }
      out[f.transport]++;
    }
    return out;
  }

  private remember(remote: Remote, expiresS: number): void {
    const f = Flows.flowOf(remote);
    const key = f.protocol + '|' + f.address + '|' + f.port + '|' + f.conn;
    if (expiresS <= 0) {
      this.held.delete(key);
      return;
    }
    if (this.held.size >= MAX_FLOWS && !this.held.has(key)) {
      this.heldByTransport(); // drops what expired or closed
      if (this.held.size >= MAX_FLOWS) return;
    }
    this.held.set(key, { transport: f.protocol, conn: f.conn, expiresAt: this.env.now() + expiresS * 1000 });
  }

  private refuse(): FlowRoute {
    this.counters.tokenFailures++;
    return { kind: 'fail', status: 403, reason: 'Invalid Flow Token' };
  }

  private gone(): FlowRoute {
    this.counters.failed++;
    return { kind: 'fail', status: 430, reason: 'Flow Failed' };
  }
}

/** This instance as a flow holder, seen from `address`'s family: the zone's address for it, and its SIP port. */
function holderOf(ix: SiteIndex, address: string): FlowHolder | undefined {
  const self = ix.site.self;
  const v6 = isIP(plainAddress(address)) === 6;
  const a = self.addresses.find((x) => x.includes(':') === v6) ?? self.addresses[0];
  return a ? { address: a, port: self.port } : undefined;
}

/** The value of the flow parameter of a URI's text, if any (URI parameters only, not its headers). */
export function flowParamOf(uri: string): string | undefined {
  const i = flowParamIndex(uri);
  if (i < 0) return undefined;
  const start = i + FLOW_PARAM.length + 2;
  let end = start;
  while (end < uri.length && uri.charCodeAt(end) !== 59 /* ; */ && uri.charCodeAt(end) !== 63 /* ? */ && uri.charCodeAt(end) !== 62 /* > */) end++;
  return uri.slice(start, end);
}

/** Index of ";srvflow=" in a URI's parameters (case-insensitive), or -1. */
function flowParamIndex(uri: string): number {
  const q = uri.indexOf('?');
  const params = q < 0 ? uri : uri.slice(0, q);
  return params.toLowerCase().indexOf(';' + FLOW_PARAM + '=');
}

function hasFlowParam(uri: string): boolean {
  return flowParamIndex(uri) >= 0;
}

/** The URI with `;srvflow=TOKEN` among its parameters (an existing one replaced). */
export function withFlowParam(uri: string, token: string): string {
  const u = withoutFlowParam(uri);
  const q = u.indexOf('?');
  const p = ';' + FLOW_PARAM + '=' + token;
  return q < 0 ? u + p : u.slice(0, q) + p + u.slice(q);
}

/** The URI without its flow parameter(s). */
export function withoutFlowParam(uri: string): string {
  let u = uri;
  for (let i = flowParamIndex(u); i >= 0; i = flowParamIndex(u)) {
    let end = i + 1;
    while (end < u.length && u.charCodeAt(end) !== 59 && u.charCodeAt(end) !== 63) end++;
    u = u.slice(0, i) + u.slice(end);
  }
  return u;
}

/** The registration's lifetime asked for (seconds): the largest Contact expires, else Expires, else 3600. */
function registerExpires(req: SipRequest): number {
  const contacts = req.headers.contact;
  let best = -1;
  if (Array.isArray(contacts)) {
    for (const c of contacts as SipAor[]) {
      const e = c.params.expires;
      if (typeof e === 'string' && /^\d{1,10}$/.test(e)) best = Math.max(best, Number(e));
    }
  }
  if (best >= 0) return best;
  const e = req.headers.expires;
  if (typeof e === 'string' && /^\s*\d{1,10}\s*$/.test(e)) return Number(e);
  return DEFAULT_EXPIRES_S;
}

/** The request's Supported names the outbound option tag (RFC 5626 §4.2.1). */
function supportsOutbound(req: SipRequest): boolean {
  return hasOptionTag(req.headers.supported, 'outbound');
}

function hasOptionTag(header: unknown, tag: string): boolean {
  return typeof header === 'string' && header.split(',').some((t) => t.trim().toLowerCase() === tag);
}
