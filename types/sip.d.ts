/**
 * Types for the parts of package `sip` (0.0.6) used by the simulated HA pair
 * (src/sim) and by tests as an independent SIP peer: its message parser and
 * serializer. The product (src/sip) has its own codec and message types
 * (src/sip/codec/message.ts) and does not import package `sip`.
 */
declare module 'sip' {
  export type SipParams = Record<string, string | null>;

  export interface SipUri {
    schema: string;
    user?: string;
    password?: string;
    host: string;
    /** NaN or null when absent. */
    port?: number | null;
    params: SipParams;
    headers: Record<string, string>;
  }

  export interface SipVia {
    version: string;
    protocol: string;
    host: string;
    port?: number;
    params: SipParams;
  }

  /** name-addr of To/From/Contact: `uri` is left as text. */
  export interface SipAor {
    name?: string;
    uri: string;
    params: SipParams;
  }

  /** name-addr of Route/Record-Route/Path: `uri` parsed (undefined when it did not parse). */
  export interface SipRouteEntry {
    name?: string;
    uri?: SipUri;
    params: SipParams;
  }

  export interface SipCSeq {
    seq: number;
    method: string;
  }

  export interface SipHeaders {
    via?: SipVia[];
    to?: SipAor;
    from?: SipAor;
    'call-id'?: string;
    cseq?: SipCSeq;
    contact?: SipAor[] | '*';
    route?: SipRouteEntry[];
    'record-route'?: SipRouteEntry[];
    'max-forwards'?: string | number;
    'content-length'?: number;
    [name: string]: unknown;
  }

  export interface SipMessage {
    method?: string;
    uri?: string;
    status?: number;
    reason?: string;
    version?: string;
    headers: SipHeaders;
    /** Body as a binary (latin1) string. */
    content?: string;
  }

  /** Parses one whole message (a Buffer is read as latin1); undefined when the start line or a header line is malformed. */
  export function parse(data: string | Buffer): SipMessage | undefined;
  /** Serializes a message; sets headers['content-length'] from `content`. */
  export function stringify(m: SipMessage): string;
  export function parseUri(s: string): SipUri | undefined;
  export function stringifyUri(u: SipUri | string): string;

  const sip: {
    parse: typeof parse;
    stringify: typeof stringify;
    parseUri: typeof parseUri;
    stringifyUri: typeof stringifyUri;
  };
  export default sip;
}
