/**
 * test/support/hardening-site: one srvproxy instance (the real CLI, a child
 * process) in front of the simulated HA pair, for the hardening tests (fuzz,
 * floods, open relay, IPv6, TLS); plus what those tests read from the
 * instance: /status, its RSS from /proc, its log, and one call through it.
 * `startMemberSite` puts the scripted member stand-ins (test/support/sip-server)
 * in place of the simulated pair, for tests that look at what a member receives.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promises as dnsp } from 'node:dns';
import { startSimPair, type SimPair } from '../../src/sim/ha-pair.js';
import { UserAgent } from '../../src/sim/ua.js';
import { freePort } from './ports.js';
import { eventually, startSrvproxy, type Proc } from './processes.js';
import { ScriptedSipServer } from './sip-server.js';

/** The probe intervals of a hardened site, unless the test's own flags set them. */
function probeDefaults(args: readonly string[]): string[] {
  const out: string[] = [];
  if (!args.includes('--oos-check')) out.push('--oos-check', '1');
  if (!args.includes('--oos-force')) out.push('--oos-force', '0.5');
  return out;
}

export interface HardenedSiteOptions {
  /** Address of the instance (default 127.0.0.31; '::1' for IPv6). */
  proxy?: string;
  /** A second address of the instance (e.g. '::1' beside an IPv4 one): AAAA/A records too. */
  proxy2?: string;
  /** Addresses of the pair members (default 127.0.0.41 / .42). */
  members?: [string, string];
  /** Extra srvproxy flags. */
  args?: string[];
  /** The pair's SRV service name (default _sip._udp; _sips._tcp: members over TLS). */
  pairService?: string;
  /** Ports of pair members the test runs itself (no simulated pair is started then). */
  memberPorts?: [number, number];
  /** NODE_OPTIONS for the instance's process (e.g. a heap limit). */
  nodeOptions?: string;
  /** Extra zone lines (appended). */
  zoneExtra?: (ports: { sip: number }) => string[];
}

export interface HardenedSite {
  proc: Proc;
  address: string;
  sipPort: number;
  dnsPort: number;
  httpPort: number;
  zoneDir: string;
  /** The simulated pair (undefined when the test runs its own members). */
  pair: SimPair | undefined;
  memberPorts: [number, number];
  stop(): Promise<void>;
}

/** A port free for UDP and TCP on each address. */
async function freePortOnAll(addresses: string[]): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort(addresses[0]);
    let ok = true;
    for (const a of addresses.slice(1)) ok = ok && (await bindable(a, p));
    if (ok) return p;
  }
  throw new Error('no port free on ' + addresses.join(', '));
}

function bindable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const u = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    u.once('error', () => resolve(false));
    u.bind(port, address, () => {
      u.close();
      const t = net.createServer();
      t.once('error', () => resolve(false));
      t.listen(port, address, () => t.close(() => resolve(true)));
    });
  });
}

const rr = (address: string) => (address.includes(':') ? 'AAAA' : 'A');

export async function startHardenedSite(o: HardenedSiteOptions = {}): Promise<HardenedSite> {
  const address = o.proxy ?? '127.0.0.31';
  const [ma, mb] = o.members ?? ['127.0.0.41', '127.0.0.42'];
  const both = o.proxy2 ? [address, o.proxy2] : [address];
  const sipPort = await freePortOnAll(both);
  const dnsPort = await freePortOnAll(both);
  const httpPort = await freePort('127.0.0.1');
  const pa = o.memberPorts?.[0] ?? (await freePort(ma));
  const pb = o.memberPorts?.[1] ?? (await freePort(mb));
  const lines = [
    '$ORIGIN example.com.',
    '$TTL 5',
    '@ SOA ns1 hostmaster 2026112501 3600 600 86400 5',
    '@ NS ns1',
    `ns1 ${rr(address)} ${address}`,
    `proxy1 ${rr(address)} ${address}`,
    `_sip._udp.sipproxy SRV 10 50 ${sipPort} proxy1`,
    `_sip._tcp.sipproxy SRV 10 50 ${sipPort} proxy1`,
    `sipproxy ${rr(address)} ${address}`,
    ...(o.proxy2 ? [`proxy1 ${rr(o.proxy2)} ${o.proxy2}`, `sipproxy ${rr(o.proxy2)} ${o.proxy2}`] : []),
    `sips-a ${rr(ma)} ${ma}`,
    `sips-b ${rr(mb)} ${mb}`,
    `${o.pairService ?? '_sip._udp'}.tserver SRV 10 0 ${pa} sips-a`,
    `${o.pairService ?? '_sip._udp'}.tserver SRV 20 0 ${pb} sips-b`,
    ...(o.zoneExtra?.({ sip: sipPort }) ?? []),
  ];
  const zoneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-hard-'));
  fs.writeFileSync(path.join(zoneDir, 'example.com.zone'), lines.join('\n') + '\n');
  const pair = o.memberPorts ? undefined : await startSimPair({ primary: { address: ma, port: pa }, backup: { address: mb, port: pb } });
  let proc: Proc;
  const saved = process.env.NODE_OPTIONS;
  try {
    // the child is spawned synchronously inside startSrvproxy: the variable is restored right after
    if (o.nodeOptions) process.env.NODE_OPTIONS = o.nodeOptions;
    const starting = startSrvproxy(
      ['--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', zoneDir, '--dns-port', String(dnsPort),
        ...probeDefaults(o.args ?? []), ...(o.args ?? [])],
      httpPort,
      'proxy1',
    );
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
    proc = await starting;
  } catch (e) {
    await pair?.stop();
    throw e;
  }
  return {
    proc, address, sipPort, dnsPort, httpPort, zoneDir, pair, memberPorts: [pa, pb],
    stop: async () => {
      await proc.kill();
      await pair?.stop();
      fs.rmSync(zoneDir, { recursive: true, force: true });
    },
  };
}

export interface PairStatus {
  name: string;
  inService: boolean;
  mode: string;
  active: string | null;
}

export async function pairStatus(site: HardenedSite): Promise<PairStatus> {
  const r = await fetch(`http://127.0.0.1:${site.httpPort}/status`, { signal: AbortSignal.timeout(2000) });
  const s = (await r.json()) as { pairs: PairStatus[] };
  return s.pairs[0]!;
}

/** Resident set size of a process, bytes (from /proc). */
export function rssOf(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(s);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Lines of the instance's log that show an exception escaped or was caught as internal. */
export function crashLines(output: string): string[] {
  return output.split('\n').filter((l) => /SRV-10099|Uncaught|UnhandledPromiseRejection|^\s+at |TypeError|RangeError|FATAL/.test(l));
}

/** One whole call (INVITE/200/ACK/BYE/200) from a user agent through the instance. */
export async function callThrough(site: HardenedSite, localAddress = '127.0.0.61'): Promise<{ ok: boolean; answeredBy?: string; detail: string }> {
  const ua = await UserAgent.open({ proxy: { address: site.address, port: site.sipPort }, localAddress, transactionTimeoutMs: 4000 });
  try {
    const r = await ua.call({ to: 'sip:1000@tserver.example.com' });
    return { ok: r.ok, answeredBy: r.answeredBy, detail: JSON.stringify(r) };
  } finally {
    ua.close();
  }
}

/** The SRV targets of the pool from the instance's DNS. */
export async function poolSrv(site: HardenedSite): Promise<string[]> {
  const r = new dnsp.Resolver({ timeout: 1000, tries: 2 });
  r.setServers([site.address.includes(':') ? `[${site.address}]:${site.dnsPort}` : `${site.address}:${site.dnsPort}`]);
  return (await r.resolveSrv('_sip._udp.sipproxy.example.com')).map((x) => x.name);
}

export interface MemberSite {
  site: HardenedSite;
  /** The primary's stand-in (active) on 127.0.0.41. */
  a: ScriptedSipServer;
  /** The backup's stand-in (standby: 503 to everything) on 127.0.0.42. */
  b: ScriptedSipServer;
  stop(): Promise<void>;
}

/** An instance in front of two scripted member stand-ins, the pair in service on the primary. */
export async function startMemberSite(o: Omit<HardenedSiteOptions, 'memberPorts' | 'members'> = {}): Promise<MemberSite> {
  const a = new ScriptedSipServer('127.0.0.41', 'sips-a.example.com');
  const b = new ScriptedSipServer('127.0.0.42', 'sips-b.example.com');
  b.mode = 'standby';
  await Promise.all([a.start(), b.start()]);
  let site: HardenedSite;
  try {
    site = await startHardenedSite({ ...o, members: ['127.0.0.41', '127.0.0.42'], memberPorts: [a.port, b.port] });
  } catch (e) {
    await Promise.all([a.stop(), b.stop()]);
    throw e;
  }
  const stop = async () => {
    await site.stop();
    await Promise.all([a.stop(), b.stop()]);
  };
  try {
    await eventually(async () => (await pairStatus(site)).active === 'sips-a.example.com', 8000, 'pair in service on the primary');
  } catch (e) {
    await stop();
    throw e;
  }
  return { site, a, b, stop };
}
