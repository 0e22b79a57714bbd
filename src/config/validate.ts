/**
 * config/validate: turns raw flag / config-file values into Settings. Every
 * rejection is a ConfigError whose message names the flag and the reason.
 * May import: shared, config/options, config/settings.
 */
import net from 'node:net';
import { ConfigError } from '../shared/errors.js';
import { parseCidr } from '../shared/ip.js';
import { canonicalName } from '../shared/names.js';
import { RUN_OPTIONS, type OptionKind, type RunOptionName } from './options.js';
import type { Settings } from './settings.js';

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/i;

function fail(flag: string, reason: string): never {
  throw new ConfigError(`--${flag}: ${reason}`);
}

function fqdn(flag: string, v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') fail(flag, 'expects a domain name');
  const n = canonicalName(v);
  if (n.length > 253 || !n.split('.').every((l) => LABEL.test(l))) fail(flag, `'${v}' is not a valid domain name`);
  return n;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function number(flag: string, v: unknown, min: number, max: number, integer: boolean): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) fail(flag, `'${String(v)}' is not a number`);
  if (integer && !Number.isInteger(n)) fail(flag, `'${String(v)}' is not a whole number`);
  if (n < min || n > max) fail(flag, `${n} is out of range ${min}..${max}`);
  return n;
}

function parseHostPort(flag: string, v: unknown): { host: string; port: number } {
  if (typeof v !== 'string') fail(flag, 'expects HOST:PORT');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (!m) fail(flag, `'${v}' is not HOST:PORT (IPv6: [ADDR]:PORT)`);
  const host = m[1]!;
  if (host !== 'localhost' && !net.isIP(host)) fail(flag, `'${host}' is not an IP address`);
  return { host, port: number(flag, m[2], 0, 65535, true) };
}

/** ADDRESS, ADDRESS:PORT, [IPV6]:PORT or a bare IPv6 address; port 53 unless given. */
function upstream(flag: string, v: unknown): { address: string; port: number } {
  if (typeof v !== 'string') fail(flag, 'expects ADDRESS[:PORT]');
  if (net.isIP(v)) return { address: v, port: 53 };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (!m || !net.isIP(m[1]!)) fail(flag, `'${v}' is not ADDRESS[:PORT] with an IP address (IPv6: [ADDR]:PORT)`);
  return { address: m[1]!, port: number(flag, m[2], 1, 65535, true) };
}

/** ADDRESS/BITS, or a bare address (one host). */
function cidr(flag: string, v: unknown): string {
  if (typeof v !== 'string') fail(flag, 'expects ADDRESS/BITS');
  if (!parseCidr(v)) fail(flag, `'${v}' is not a network ADDRESS/BITS (e.g. 10.0.0.0/8, 2001:db8::/32)`);
  return v;
}

function convert(flag: string, kind: OptionKind, v: unknown): unknown {
  switch (kind) {
    case 'fqdn':
      return fqdn(flag, v);
    case 'fqdn[]':
      return list(v).map((x) => fqdn(flag, x));
    case 'string[]':
      return list(v).map((x) => {
        if (typeof x !== 'string' || x === '') fail(flag, 'expects a path');
        return x;
      });
    case 'address[]':
      return list(v).map((x) => {
        if (typeof x !== 'string' || !net.isIP(x)) fail(flag, `'${String(x)}' is not an IP address`);
        return x;
      });
    case 'upstream[]':
      return list(v).map((x) => upstream(flag, x));
    case 'cidr[]':
      return list(v).map((x) => cidr(flag, x));
    case 'path':
      if (typeof v !== 'string' || v === '') fail(flag, 'expects a file path');
      return v;
    case 'port':
      return number(flag, v, 1, 65535, true);
    case 'hostport':
      return parseHostPort(flag, v);
    case 'seconds':
      return number(flag, v, 0.01, 86400, false);
    case 'count':
      return number(flag, v, 1, 1000, true);
    case 'uint':
      return number(flag, v, 0, 1000, true);
    case 'rate':
      return number(flag, v, 0, 1_000_000, false);
    case 'ms':
      return number(flag, v, 0, 60_000, true);
    case 'level':
      if (v === 'error' || v === 'warn' || v === 'info' || v === 'debug') return v;
      return fail(flag, `'${String(v)}' is not one of error, warn, info, debug`);
    case 'format':
      if (v === 'json' || v === 'text') return v;
      return fail(flag, `'${String(v)}' is not one of json, text`);
  }
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const BY_KEY = new Map<string, RunOptionName>();
for (const name of Object.keys(RUN_OPTIONS) as RunOptionName[]) {
  BY_KEY.set(name, name);
  BY_KEY.set(camel(name), name);
}

/** Check a parsed --config JSON object: known keys only. Returns values by option name. */
export function readConfigObject(obj: unknown, file: string): Partial<Record<RunOptionName, unknown>> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ConfigError(`--config: ${file} must hold a JSON object`);
  }
  const out: Partial<Record<RunOptionName, unknown>> = {};
  for (const [k, v] of Object.entries(obj)) {
    const name = BY_KEY.get(k);
    if (!name) throw new ConfigError(`--config: ${file}: unknown key '${k}'`);
    out[name] = v;
  }
  return out;
}

/**
 * Merge flags over config-file values over defaults and validate.
 * `flags` holds only options given on the command line (by option name).
 */
export function resolveSettings(
  flags: Partial<Record<RunOptionName, unknown>>,
  fromFile: Partial<Record<RunOptionName, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  // the environment gives defaults: SRVPROXY_RESOLVER=ADDRESS[:PORT][,ADDRESS[:PORT]...]
  const fromEnv: Partial<Record<RunOptionName, unknown>> = {};
  if (env.SRVPROXY_RESOLVER) fromEnv.resolver = env.SRVPROXY_RESOLVER.split(',').map((x) => x.trim());
  const raw = (name: RunOptionName): unknown => {
    const spec = RUN_OPTIONS[name] as { default?: unknown };
    return flags[name] ?? fromFile[name] ?? fromEnv[name] ?? spec.default;
  };
  const get = <T>(name: RunOptionName): T | undefined => {
    const v = raw(name);
    return v === undefined ? undefined : (convert(name, RUN_OPTIONS[name].kind, v) as T);
  };
  const self = get<string>('self');
  if (!self) fail('self', 'is required');
  const pairs = get<string[]>('pair');
  if (!pairs || pairs.length === 0) fail('pair', 'at least one HA pair is required');
  const s: Settings = {
    self,
    pairs,
    zones: get<string[]>('zones')!,
    pool: get<string>('pool'),
    servingPair: get<string>('serving-pair'),
    local: get<string[]>('local'),
    listen: get<string[]>('listen'),
    sipPort: get<number>('sip-port'),
    dnsPort: get<number>('dns-port')!,
    http: get<{ host: string; port: number }>('http')!,
    oosCheck: get<number>('oos-check')!,
    oosForce: get<number>('oos-force')!,
    hopTimeoutMs: Math.round(get<number>('hop-timeout')! * 1000),
    peerInterval: get<number>('peer-interval')!,
    peerDownAfter: get<number>('peer-down-after')!,
    peerUpAfter: get<number>('peer-up-after')!,
    overloadCtrlDialogRate: get<number>('overload-ctrl-dialog-rate')!,
    overloadTargetDelayMs: get<number>('overload-target-delay')!,
    forward: get<{ address: string; port: number }[]>('forward'),
    forwardAllow: get<string[]>('forward-allow'),
    resolver: get<{ address: string; port: number }[]>('resolver'),
    allowTransfer: get<string[]>('allow-transfer'),
    notify: get<{ address: string; port: number }[]>('notify'),
    tsigKey: get<string>('tsig-key'),
    dnsRrlRate: get<number>('dns-rrl-rate')!,
    dnsRrlSlip: get<number>('dns-rrl-slip')!,
    tlsCert: get<string>('tls-cert'),
    tlsKey: get<string>('tls-key'),
    tlsCa: get<string>('tls-ca'),
    tlsPort: get<number>('tls-port'),
    logLevel: get<Settings['logLevel']>('log-level')!,
    logFormat: get<Settings['logFormat']>('log-format')!,
  };
  // Forwarding needs both: where to forward, and for whom (never an open resolver by default).
  if (s.forward && !s.forwardAllow) fail('forward-allow', 'is required with --forward: the client networks that may use forwarding');
  if (s.forwardAllow && !s.forward) fail('forward', 'is required with --forward-allow: the upstream resolvers to forward to');
  if ((s.tlsCert === undefined) !== (s.tlsKey === undefined)) {
    fail(s.tlsCert === undefined ? 'tls-cert' : 'tls-key', `is required with --${s.tlsCert === undefined ? 'tls-key' : 'tls-cert'}`);
  }
  // --serving-pair among --pair: checked with the zones (zone/site), where the refusal can name the records
  if (s.overloadTargetDelayMs > 0 && s.overloadTargetDelayMs < 10) fail('overload-target-delay', `${s.overloadTargetDelayMs} ms is below 10 ms, the event-loop delay resolution (0 turns it off)`);
  return s;
}
