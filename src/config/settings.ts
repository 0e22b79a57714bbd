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
  /** Per-hop timeout for a forwarded request before failover, ms. */
  hopTimeoutMs: number;
  /** Upstream resolvers for names outside the zones, in order (--forward); with forwardAllow. */
  forward?: { address: string; port: number }[];
  /** Client prefixes (CIDR) allowed to have names forwarded (--forward-allow). */
  forwardAllow?: string[];
  /** Prefixes (CIDR) allowed to transfer the zones (--allow-transfer); none: transfers refused. */
  allowTransfer?: string[];
  /** Secondaries sent NOTIFY on every serial change (--notify). */
  notify?: { address: string; port: number }[];
  /** TSIG key file (--tsig-key). */
  tsigKey?: string;
  /** Local-first members (default: self). */
  local?: string[];
  logLevel: LogLevel;
  logFormat: LogFormat;
}
