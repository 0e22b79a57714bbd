/**
 * shared/events: stable codes for operational events. Each is logged once, on
 * the transition, as `{ event: 'SRV-xxxxx', ... }`. README.md documents every
 * code; a test checks that it does. May import: nothing.
 *
 * Ranges: 1xxxx lifecycle, 2xxxx zone/DNS, 3xxxx HA pairs, 4xxxx pool/site,
 * 5xxxx SIP transport and overload.
 */
export const EVENTS = {
  STARTED: { code: 'SRV-10000', text: 'instance started' },
  STOPPING: { code: 'SRV-10001', text: 'instance stopping' },
  STOPPED: { code: 'SRV-10002', text: 'instance stopped' },
  DRAIN_ON: { code: 'SRV-10010', text: 'draining: answering OPTIONS 503, withdrawn from own answers' },
  DRAIN_OFF: { code: 'SRV-10011', text: 'undrained: serving again' },
  LISTEN_FAILED: { code: 'SRV-10020', text: 'cannot listen' },
  INTERNAL_ERROR: { code: 'SRV-10099', text: 'internal error caught' },

  ZONE_LOADED: { code: 'SRV-20000', text: 'zones loaded' },
  ZONE_RELOADED: { code: 'SRV-20001', text: 'zones reloaded' },
  ZONE_REJECTED: { code: 'SRV-20002', text: 'zone reload rejected; previous zones keep serving' },
  DNS_ANSWERS_REBUILT: { code: 'SRV-20010', text: 'DNS answers rebuilt' },
  ZONE_TRANSFER: { code: 'SRV-20020', text: 'zone transferred to a secondary' },
  ZONE_TRANSFER_REFUSED: { code: 'SRV-20021', text: 'zone transfer refused' },
  NOTIFY_FAILED: { code: 'SRV-20022', text: 'a secondary did not take NOTIFY' },
  TSIG_REFUSED: { code: 'SRV-20023', text: 'a signed query refused (malformed TSIG, BADKEY, BADSIG, BADTIME)' },
  NOTIFY_UNVERIFIED: { code: 'SRV-20024', text: 'a reply to a signed NOTIFY was unsigned or did not verify; not taken as acknowledgement' },
  DNS_UPSTREAM_DOWN: { code: 'SRV-20050', text: 'forwarding: an upstream resolver failed; tried after the others for a while' },
  DNS_UPSTREAM_UP: { code: 'SRV-20051', text: 'forwarding: the upstream resolver answers again' },

  PAIR_SWITCHOVER: { code: 'SRV-30000', text: 'pair switched active member' },
  PAIR_OUT_OF_SERVICE: { code: 'SRV-30001', text: 'pair out of service: no member answers' },
  PAIR_IN_SERVICE: { code: 'SRV-30002', text: 'pair back in service' },
  PAIR_FORCE_MODE: { code: 'SRV-30003', text: 'pair entered force mode' },
  PAIR_CHECK_MODE: { code: 'SRV-30004', text: 'pair returned to check mode' },

  OWN_ADDRESS_NOT_IN_POOL: { code: 'SRV-40000', text: 'own address not in pool' },
  PEER_WITHDRAWN: { code: 'SRV-40001', text: 'peer withdrawn from answers' },
  PEER_RESTORED: { code: 'SRV-40002', text: 'peer restored to answers' },
  POOL_FAIL_OPEN: { code: 'SRV-40003', text: 'every pool member withdrawn: answering the full configured set' },
  POOL_FAIL_OPEN_END: { code: 'SRV-40004', text: 'pool answers health-filtered again' },

  SIP_OVERLOAD: { code: 'SRV-50000', text: 'INVITE rate above overload-ctrl-dialog-rate: answering 503' },
  SIP_OVERLOAD_END: { code: 'SRV-50001', text: 'INVITE rate back under overload-ctrl-dialog-rate' },
  SIP_OVERLOAD_ADAPTIVE: { code: 'SRV-50002', text: 'work later than overload-target-delay, a surge on course to it, or a growing backlog past 150 ms (cause late, surge or backlog): admitting fewer new requests from user agents (503 + Retry-After)' },
  SIP_OVERLOAD_ADAPTIVE_END: { code: 'SRV-50003', text: 'lateness back under overload-target-delay: admitting every new request again' },
  SIP_TCP_LIMIT: { code: 'SRV-50010', text: 'TCP connection limit reached' },
  SIP_MEMBER_OC: { code: 'SRV-50020', text: 'a pair member asks for fewer requests (RFC 7339 oc): answering that share of new requests from user agents for it 503 + Retry-After' },
  SIP_MEMBER_OC_END: { code: 'SRV-50021', text: "a pair member's overload control ended (oc=0, oc-validity=0, or its validity expired): forwarding every request to it again" },
} as const;

export type EventName = keyof typeof EVENTS;
