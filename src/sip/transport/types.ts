/**
 * sip/transport/types: what the transports hand upwards and take downwards.
 * May import: sip/codec.
 */
import type { DecodeFailure, SipMessage } from '../codec/codec.js';
import type { Transport } from '../codec/message.js';

/** 'tls' is a destination only: a message that arrived over TLS has protocol 'tcp' and `secure` set (the connection is what answers it). */
export type Protocol = Transport;

/** Where a message came from, or where one goes. */
export interface Remote {
  protocol: Protocol;
  address: string;
  port: number;
  /** TCP: the connection a message arrived on (responses go back on it while it lives). */
  conn?: number;
  /** Arrived over TLS. */
  secure?: boolean;
  /**
   * A flow back to a user agent (RFC 5626): TCP/TLS only over connection `conn`, never a new
   * connection (a closed one is a send error: the flow is gone).
   */
  flow?: boolean;
}

export interface ListenAddress {
  address: string;
  port: number;
}

export interface TransportSink {
  /** A well-formed message. */
  onMessage(msg: SipMessage, remote: Remote): void;
  /** A malformed message, with what is known to answer it (a request: 400 or 505). */
  onBadMessage(bad: DecodeFailure, remote: Remote): void;
  /**
   * A look at a UDP datagram before it is decoded (overload control's refusals, sip/proxy/fast-shed):
   * a Buffer is sent back to the datagram's source and ends it, null drops it, undefined decodes it.
   */
  preview?(buf: Buffer, address: string, port: number): Buffer | null | undefined;
}

export interface TransportCounters {
  received: number;
  sent: number;
  sendErrors: number;
  droppedPort0: number;
  droppedTooLarge: number;
  droppedMalformed: number;
  tcpFramingErrors: number;
  tcpConnectionsOpen: number;
  tcpConnectionsRefused: number;
  /** Of tcpConnectionsRefused: refused by the per-source limit. */
  tcpRefusedPerSource: number;
  /** Connections closed by the idle timeout. */
  tcpIdleClosed: number;
  /** TLS handshakes that failed (accepted and outgoing, e.g. a certificate refused). */
  tlsHandshakeFailures: number;
  /** TCP/TLS pings (CRLFCRLF) answered with a CRLF. */
  keepalivesCrlf: number;
  /** STUN Binding Requests on the UDP socket answered. */
  keepalivesStun: number;
  /** TCP/TLS pings left unanswered: too much waiting to be written to a peer that does not read. */
  keepalivesUnanswered: number;
}

export function newTransportCounters(): TransportCounters {
  return {
    received: 0, sent: 0, sendErrors: 0, droppedPort0: 0, droppedTooLarge: 0, droppedMalformed: 0,
    tcpFramingErrors: 0, tcpConnectionsOpen: 0, tcpConnectionsRefused: 0, tcpRefusedPerSource: 0, tcpIdleClosed: 0, tlsHandshakeFailures: 0,
    keepalivesCrlf: 0, keepalivesStun: 0, keepalivesUnanswered: 0,
  };
}

/**
 * One send on a socket, counted: `write` starts it and calls back with the
 * socket's error, if any. A send error (thrown at once or reported later)
 * counts as sendErrors and goes to onError; every started send counts as sent.
 */
export function countedSend(counters: TransportCounters, write: (done: (err?: Error | null) => void) => void, onError?: (err: Error) => void): void {
  try {
    write((err) => {
      if (err) {
        counters.sendErrors++;
        onError?.(err);
      }
    });
    counters.sent++;
  } catch (err) {
    counters.sendErrors++;
    onError?.(err as Error);
  }
}
