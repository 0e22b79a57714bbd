/**
 * test/support/sip-wire: messages crossing between package `sip` (the
 * independent peer that reads what srvproxy sends in unit tests) and
 * srvproxy's codec, as they would on the wire: written as text by one side,
 * read by the other.
 */
import sip, { type SipMessage as PeerMessage } from 'sip';
import { decode, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip/codec/codec.js';

function read(text: string): SipMessage {
  const r = decode(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error('not a valid message: ' + r.error);
  return r.msg;
}

/** A request as text, read by srvproxy's codec; throws when it is not a valid request. */
export function requestFrom(text: string): SipRequest {
  const m = read(text);
  if (m.kind !== 'request') throw new Error('not a request');
  return m;
}

/** A request built in package `sip`'s shape, written by it and read by srvproxy's codec. */
export function requestFromPeer(m: PeerMessage): SipRequest {
  return requestFrom(sip.stringify(m));
}

/** A response built in package `sip`'s shape, written by it and read by srvproxy's codec. */
export function responseFromPeer(m: PeerMessage): SipResponse {
  const r = read(sip.stringify(m));
  if (r.kind !== 'response') throw new Error('not a response');
  return r;
}
