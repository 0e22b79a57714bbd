/**
 * config/options: the table of `srvproxy run` options: name, kind, default,
 * help. The CLI builds its yargs options from it and the config file is
 * checked against it, so a flag and its JSON key can never drift apart.
 * May import: nothing.
 */

export type OptionKind =
  | 'fqdn' | 'fqdn[]' | 'string[]' | 'address[]' | 'port' | 'hostport' | 'seconds' | 'count' | 'rate' | 'level' | 'format'
  | 'upstream[]' | 'cidr[]' | 'path' | 'uint' | 'ms';

export interface OptionSpec {
  kind: OptionKind;
  describe: string;
  default?: string | number;
}

export const RUN_OPTIONS = {
  self: { kind: 'fqdn', describe: 'FQDN of this instance; must be an SRV target of the pool' },
  pair: { kind: 'fqdn[]', describe: 'FQDN of a SIP Server HA pair (repeatable); its _sip._udp SRV lists primary and backup' },
  zones: { kind: 'string[]', describe: 'zone files or folders of *.zone files', default: 'zones' },
  pool: { kind: 'fqdn', describe: 'the pool FQDN (default: the pool whose SRV targets include --self)' },
  'serving-pair': { kind: 'fqdn', describe: 'the pair that receives requests from user agents (default: the first --pair)' },
  local: { kind: 'fqdn[]', describe: "this site's pool members, answered ahead of the others (default: --self)" },
  listen: { kind: 'address[]', describe: 'addresses to listen on for SIP and DNS (default: the A/AAAA of --self)' },
  'sip-port': { kind: 'port', describe: "SIP port (default: --self's port in the pool SRV records)" },
  'dns-port': { kind: 'port', describe: 'DNS port', default: 53 },
  http: { kind: 'hostport', describe: 'status/metrics listener HOST:PORT', default: '127.0.0.1:8053' },
  'oos-check': { kind: 'seconds', describe: 'check-mode OPTIONS interval and timeout, seconds', default: 5 },
  'oos-force': { kind: 'seconds', describe: 'force-mode OPTIONS interval, seconds', default: 5 },
  'hop-timeout': { kind: 'seconds', describe: 'no response from the active member within this starts failover, seconds', default: 0.5 },
  'peer-interval': { kind: 'seconds', describe: 'peer OPTIONS interval, seconds', default: 1 },
  'peer-down-after': { kind: 'count', describe: 'consecutive failed peer probes before withdrawal', default: 3 },
  'peer-up-after': { kind: 'count', describe: 'consecutive good peer probes before restoring', default: 3 },
  forward: { kind: 'upstream[]', describe: 'upstream resolvers ADDRESS[:PORT] (IPv6: [ADDR]:PORT) for names outside the zones, tried in order; needs --forward-allow' },
  resolver: { kind: 'upstream[]', describe: 'recursive resolvers ADDRESS[:PORT] for outbound SIP names outside the zones (default: SRVPROXY_RESOLVER, else the nameservers of /etc/resolv.conf)' },
  'forward-allow': { kind: 'cidr[]', describe: 'client networks (CIDR) whose queries for names outside the zones are forwarded; others get REFUSED (default: none)' },
  'allow-transfer': { kind: 'cidr[]', describe: 'secondaries (CIDR) allowed to transfer the zones, AXFR/IXFR over TCP; others get REFUSED (default: none)' },
  notify: { kind: 'upstream[]', describe: 'secondaries ADDRESS[:PORT] sent NOTIFY when a serial moves (with --allow-transfer, the NS hosts are too)' },
  'tsig-key': { kind: 'path', describe: 'TSIG key file (BIND syntax, hmac-sha256): transfers must be signed with it, NOTIFYs are' },
  // Off by default, as BIND's rate-limit: answers are small (authoritative only, minimal ANY, 1232-octet
  // UDP cap), and the limit is per client prefix, so a default would throttle a site's phone fleet
  // behind one NAT at boot. On an Internet-facing address, set e.g. 20 (BIND's documented example).
  'dns-rrl-rate': { kind: 'rate', describe: 'UDP DNS responses per second per client prefix (/24, /56) before rate limiting (0: off)', default: 0 },
  'dns-rrl-slip': { kind: 'uint', describe: 'every Nth rate-limited response is sent truncated (TC) so real clients retry over TCP; 0: drop all', default: 2 },
  'tls-cert': { kind: 'path', describe: 'PEM certificate (chain) for SIP over TLS; with --tls-key, listens on the _sips._tcp port of --self' },
  'tls-key': { kind: 'path', describe: 'PEM private key for --tls-cert' },
  'tls-ca': { kind: 'path', describe: 'PEM CA bundle that pair members\' TLS certificates must chain to (default: the system CAs)' },
  'tls-port': { kind: 'port', describe: "SIP over TLS port (default: --self's port in the pool's _sips._tcp SRV records, else 5061)" },
  'overload-ctrl-dialog-rate': { kind: 'rate', describe: 'INVITEs per second above which new dialogs get 503 (0: off); a hard cap on top of the adaptive control', default: 0 },
  'overload-target-delay': { kind: 'ms', describe: 'adaptive overload control: keep the lateness of work (age of a message when handled, event-loop delay) under this many ms by answering new out-of-dialog requests from user agents 503 (0: off)', default: 250 },
  'log-level': { kind: 'level', describe: 'error, warn, info or debug', default: 'info' },
  'log-format': { kind: 'format', describe: 'json or text', default: 'text' },
} as const satisfies Record<string, OptionSpec>;

export type RunOptionName = keyof typeof RUN_OPTIONS;
