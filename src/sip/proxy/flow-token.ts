/**
 * sip/proxy/flow-token: flow tokens (RFC 5626 §5.2). A token names the
 * instance that holds a flow (its SIP address and port, as the zone lists it)
 * and the flow itself (UDP: the source address and port as seen; TCP/TLS:
 * the connection), and carries an HMAC-SHA-256 over all of it under a key
 * that only the holding process knows. Anyone can read which instance holds a
 * token (so that any instance can relay to it); only the holder can verify
 * it, and it does before it sends a byte down the flow. The key is drawn at
 * start: a token minted by a previous life of the process no longer verifies
 * (it cannot be told from a forged one; the flow it named is gone with that
 * life, and the user agent's next REGISTER brings a new one).
 * Text form: base64url, [A-Za-z0-9_-] only, so it fits a URI user part and a
 * URI parameter value unescaped. May import: shared, sip/transport (types).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatIPv6, parseIp } from '../../shared/ip.js';
import type { Protocol } from '../transport/types.js';

/** The instance that holds a flow: its SIP address and port. */
export interface FlowHolder {
  address: string;
  port: number;
}

/** A flow: how a user agent is reached back (RFC 5626 §3.1). */
export interface Flow {
  protocol: Protocol;
  address: string;
  port: number;
  /** TCP/TLS: the connection (0 for UDP). */
  conn: number;
}

/** The holder's check: the flow, or undefined when the token does not verify (forged, altered, or from a previous life). */
export type TokenCheck = { ok: true; flow: Flow } | { ok: false };

const VERSION = 1;
const MAC_BYTES = 12;
/** version, flags, holder port, flow port, connection; then the holder's and the flow's addresses, then the MAC. */
const FLAGS = 1;
const HOLDER_PORT = 2;
const FLOW_PORT = 4;
const CONN = 6;
const FIXED = 10;
const PROTOCOLS: readonly Protocol[] = ['udp', 'tcp', 'tls'];

/** The parts of a token anyone can read (before the holder verifies it). */
export interface ParsedToken {
  holder: FlowHolder;
  /** The bytes, for the holder's check. */
  readonly bytes: Buffer;
}

/** Reads a token's text; undefined when it is not a well-formed token (wrong length, alphabet, version). */
export function parseFlowToken(text: string): ParsedToken | undefined {
  if (text.length < 40 || text.length > 80 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const b = Buffer.from(text, 'base64url');
  if (b.length < FIXED + 8 + MAC_BYTES || b[0] !== VERSION) return undefined;
  const flags = b[FLAGS]!;
  const holderLen = flags & 1 ? 16 : 4;
  const flowLen = flags & 2 ? 16 : 4;
  if ((flags >> 2) >= PROTOCOLS.length || b.length !== FIXED + holderLen + flowLen + MAC_BYTES) return undefined;
  const holder = { address: ipText(b, FIXED, holderLen), port: b.readUInt16BE(HOLDER_PORT) };
  if (holder.port === 0) return undefined;
  return { holder, bytes: b };
}

/** The tokens of one process: its key. */
export class FlowTokens {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  /** A token for `flow`, held by `holder` (this instance). */
  mint(holder: FlowHolder, flow: Flow): string {
    const h = ipBytes(holder.address);
    const f = ipBytes(flow.address);
    const b = Buffer.allocUnsafe(FIXED + h.length + f.length + MAC_BYTES);
    b[0] = VERSION;
    b[FLAGS] = (h.length === 16 ? 1 : 0) | (f.length === 16 ? 2 : 0) | (PROTOCOLS.indexOf(flow.protocol) << 2);
    b.writeUInt16BE(holder.port, HOLDER_PORT);
    b.writeUInt16BE(flow.port, FLOW_PORT);
    b.writeUInt32BE(flow.conn >>> 0, CONN);
    b.set(h, FIXED);
    b.set(f, FIXED + h.length);
    const end = b.length - MAC_BYTES;
    this.mac(b.subarray(0, end)).copy(b, end, 0, MAC_BYTES);
    return b.toString('base64url');
  }

  /** The holder's check of a token that names it: the flow, or why not. */
  check(t: ParsedToken): TokenCheck {
    const b = t.bytes;
    const end = b.length - MAC_BYTES;
    const mac = this.mac(b.subarray(0, end)).subarray(0, MAC_BYTES);
    if (!timingSafeEqual(mac, b.subarray(end))) return { ok: false };
    const flags = b[FLAGS]!;
    const holderLen = flags & 1 ? 16 : 4;
    const flowLen = flags & 2 ? 16 : 4;
    return {
      ok: true,
      flow: {
        protocol: PROTOCOLS[flags >> 2]!,
        address: ipText(b, FIXED + holderLen, flowLen),
        port: b.readUInt16BE(FLOW_PORT),
        conn: b.readUInt32BE(CONN),
      },
    };
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.key).update(data).digest();
  }
}

function ipBytes(address: string): Uint8Array {
  const b = parseIp(address);
  if (!b) throw new Error('not an IP address: ' + address);
  return b;
}

function ipText(b: Buffer, o: number, len: number): string {
  if (len === 4) return b[o] + '.' + b[o + 1] + '.' + b[o + 2] + '.' + b[o + 3];
  return formatIPv6(b.subarray(o, o + 16));
}
