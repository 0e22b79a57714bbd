/**
 * dns/counters: plain numbers the DNS server keeps for the ops plane to
 * export (no metrics library here). Incremented on the query path.
 * May import: nothing.
 */

const QTYPE_LABELS = ['A', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'AAAA', 'SRV', 'NAPTR', 'CAA', 'ANY', 'OTHER'] as const;
export type QtypeLabel = (typeof QTYPE_LABELS)[number];

const RCODE_LABELS = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'BADVERS'] as const;
export type RcodeLabel = (typeof RCODE_LABELS)[number];

export interface DnsCounters {
  /** Answerable queries (question parsed) by question type. */
  queries: Record<QtypeLabel, number>;
  /** Responses sent by rcode. */
  responses: Record<RcodeLabel, number>;
  /** Queries over UDP / over TCP (every received message, parsed or not). */
  udpReceived: number;
  tcpReceived: number;
  /** UDP answers sent with TC (too large for the client). */
  truncated: number;
  /** Messages dropped without an answer (QR set, port 0, unreadable question). */
  dropped: number;
  /** Malformed queries answered FORMERR. */
  formerr: number;
  /** TCP connections open now, accepted in total, refused by the limits, closed idle. */
  tcpOpen: number;
  tcpAccepted: number;
  tcpRejected: number;
  tcpIdleClosed: number;
  /** Exceptions caught in a socket handler (a bug if ever non-zero). */
  internalErrors: number;
}

export function newCounters(): DnsCounters {
  const queries = Object.fromEntries(QTYPE_LABELS.map((l) => [l, 0])) as Record<QtypeLabel, number>;
  const responses = Object.fromEntries(RCODE_LABELS.map((l) => [l, 0])) as Record<RcodeLabel, number>;
  return {
    queries, responses, udpReceived: 0, tcpReceived: 0, truncated: 0, dropped: 0, formerr: 0,
    tcpOpen: 0, tcpAccepted: 0, tcpRejected: 0, tcpIdleClosed: 0, internalErrors: 0,
  };
}

export function qtypeLabel(qtype: number): QtypeLabel {
  switch (qtype) {
    case 1: return 'A';
    case 2: return 'NS';
    case 5: return 'CNAME';
    case 6: return 'SOA';
    case 12: return 'PTR';
    case 15: return 'MX';
    case 16: return 'TXT';
    case 28: return 'AAAA';
    case 33: return 'SRV';
    case 35: return 'NAPTR';
    case 257: return 'CAA';
    case 255: return 'ANY';
    default: return 'OTHER';
  }
}

export function rcodeLabel(rcode: number): RcodeLabel {
  switch (rcode) {
    case 0: return 'NOERROR';
    case 1: return 'FORMERR';
    case 2: return 'SERVFAIL';
    case 3: return 'NXDOMAIN';
    case 4: return 'NOTIMP';
    case 5: return 'REFUSED';
    default: return 'BADVERS';
  }
}
