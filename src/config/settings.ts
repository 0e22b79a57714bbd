/**
 * config/settings: the one validated settings object that flags and
 * --config FILE.json produce. Inside srvproxy these values are trusted.
 * May import: shared.
 */
import type { LogFormat, LogLevel } from '../shared/log.js';

export interface Settings {
  self: string;
  pairs: string[];
  zones: string[];
  pool?: string;
  servingPair?: string;
  /** Addresses to listen on; default: the A/AAAA of --self. */
  listen?: string[];
  sipPort?: number;
  dnsPort: number;
  http: { host: string; port: number };
  /** Seconds (DESIGN.md §4). */
  oosCheck: number;
  oosForce: number;
  peerInterval: number;
  peerDownAfter: number;
  peerUpAfter: number;
  /** INVITEs per second above which new dialogs get 503; 0 = off. */
  overloadCtrlDialogRate: number;
  /** Adaptive overload control: lateness target, ms; 0 = off (--overload-target-delay). */
  overloadTargetDelayMs: number;
  /** Per-hop timeout for a forwarded request before failover, ms. */
  hopTimeoutMs: number;
  /** Upstream resolvers for names outside the zones, in order (--forward); with forwardAllow. */
  forward?: { address: string; port: number }[];
  /** Client prefixes (CIDR) allowed to have names forwarded (--forward-allow). */
  forwardAllow?: string[];
  /** Recursive resolvers for outbound SIP names outside the zones (--resolver, SRVPROXY_RESOLVER); default: /etc/resolv.conf. */
  resolver?: { address: string; port: number }[];
  /** Prefixes (CIDR) allowed to transfer the zones (--allow-transfer); none: transfers refused. */
  allowTransfer?: string[];
  /** Secondaries sent NOTIFY on every serial change (--notify). */
  notify?: { address: string; port: number }[];
  /** TSIG key file (--tsig-key). */
  tsigKey?: string;
  /** UDP DNS responses per second per client prefix before rate limiting; 0 = off (--dns-rrl-rate). */
  dnsRrlRate: number;
  /** Every Nth rate-limited response is sent truncated; 0 = drop all (--dns-rrl-slip). */
  dnsRrlSlip: number;
  /** SIP over TLS: certificate and key (PEM paths); both or neither (--tls-cert, --tls-key). */
  tlsCert?: string;
  tlsKey?: string;
  /** CA bundle that pair members' TLS certificates must chain to (--tls-ca). */
  tlsCa?: string;
  /** SIP over TLS port (--tls-port); default: the _sips._tcp SRV port of self, else 5061. */
  tlsPort?: number;
  /** Local-first members (default: self). */
  local?: string[];
  logLevel: LogLevel;
  logFormat: LogFormat;
}
