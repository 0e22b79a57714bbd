/**
 * sip/codec/message: srvproxy's SIP message types. A message is a request or
 * a response, told apart by `kind`. The parser fills them as plain objects
 * of one stable shape per kind (the fields in the order below, `content`
 * always present, undefined without a body); the serializer takes them.
 *
 * `RawSipHeaders` is what the parser can produce (every header optional);
 * `SipHeaders` is what codec validation guarantees for a message handed to the
 * stack: a non-empty Via list, From, To, Call-ID and CSeq. `SipRequest` and
 * `SipResponse` carry validated headers unless told otherwise.
 *
 * Headers the stack reads are structured (Via, From, To, Contact, Route,
 * Record-Route, Path, CSeq, Content-Length); every other header is kept as
 * its text: one string (repeated lines joined with commas), or one string
 * per line for those that may not be combined (the Authorization family,
 * RFC 3261 §7.3.1). Names are lower case, compact forms expanded.
 * May import: nothing (types only).
 */

/** A SIP transport: what a URI names, what a Via says (in upper case), where a message goes. */
export type Transport = 'udp' | 'tcp' | 'tls';

/** URI or header parameters: names lower-cased (header) or as written (URI); null for a flag. */
export type SipParams = Record<string, string | null>;

export interface SipUri {
  schema: string;
  user?: string;
  password?: string;
  host: string;
  /** NaN or null or undefined when absent. */
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

/** name-addr of To/From/Contact: `uri` is kept as text. */
export interface SipAor {
  name?: string;
  uri: string;
  params: SipParams;
}

/** name-addr of Route/Record-Route/Path: `uri` parsed (an entry whose URI does not parse makes the message malformed). */
export interface SipRouteEntry {
  name?: string;
  uri: SipUri;
  params: SipParams;
}

export interface SipCSeq {
  seq: number;
  method: string;
}

/** Any value a header may hold. */
type HeaderValue = string | number | string[] | SipVia[] | SipAor | SipAor[] | SipRouteEntry[] | SipCSeq;

/** Headers as parsed: any may be missing. */
export interface RawSipHeaders {
  via?: SipVia[];
  to?: SipAor;
  from?: SipAor;
  'call-id'?: string;
  cseq?: SipCSeq;
  /** A list, or '*' (REGISTER removing all bindings). */
  contact?: SipAor[] | '*';
  route?: SipRouteEntry[];
  'record-route'?: SipRouteEntry[];
  path?: SipRouteEntry[];
  'max-forwards'?: string | number;
  /** NaN when malformed (the codec refuses the message). */
  'content-length'?: number;
  [name: string]: HeaderValue | undefined;
}

/** Headers of a validated message: the ones the stack relies on are present (Via non-empty). */
export interface SipHeaders extends RawSipHeaders {
  via: SipVia[];
  to: SipAor;
  from: SipAor;
  'call-id': string;
  cseq: SipCSeq;
}

export interface SipRequest<H extends RawSipHeaders = SipHeaders> {
  kind: 'request';
  method: string;
  uri: string;
  version: string;
  headers: H;
  /** Body as a binary (latin1) string; undefined when empty. */
  content: string | undefined;
}

export interface SipResponse<H extends RawSipHeaders = SipHeaders> {
  kind: 'response';
  status: number;
  reason: string;
  version: string;
  headers: H;
  /** Body as a binary (latin1) string; undefined when empty. */
  content: string | undefined;
}

/** A validated message. */
export type SipMessage = SipRequest | SipResponse;

/** A message as parsed, before validation. */
export type RawSipMessage = SipRequest<RawSipHeaders> | SipResponse<RawSipHeaders>;
