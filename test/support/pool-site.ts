/**
 * test/support/pool-site: a whole site on loopback for pool-health tests:
 * the simulated HA pair tserver.example.com (127.0.0.21/.22) and N srvproxy
 * instances (the real CLI, child processes) proxy1..N.example.com on
 * 127.0.0.11.., each with its own DNS and SIP listeners, all serving the
 * same zone; plus the DNS questions those tests ask (SRV, A, SOA, the
 * additional section).
 */
import { promises as dnsp } from 'node:dns';
import dgram from 'node:dgram';
import net from 'node:net';
import { startSimPair, type SimPair } from '../../src/sim/ha-pair.js';
import { buildQuery, decode, udpExchange } from './dns-wire.js';
import { freePort } from './ports.js';
import { eventually, startSrvproxy, type Proc } from './processes.js';
import { writeSiteZone, type ZoneMember } from './site-zone.js';

export const POOL = 'sipproxy.example.com';
export const SRV_NAMES = [`_sip._udp.${POOL}`, `_sip._tcp.${POOL}`] as const;

/**
 * Peer-health settings of the pool tests: short enough to keep them fast, long
 * enough that the bounds hold on a busy 2-core machine.
 */
export const FAST_HEALTH = (() => {
  const interval = 0.75;
  const down = 3;
  const up = 2;
  return {
    args: ['--peer-interval', String(interval), '--peer-down-after', String(down), '--peer-up-after', String(up)],
    /** peer-interval × (down-after + 1): the withdrawal bound, ms. */
    downMs: interval * (down + 1) * 1000,
    /** peer-interval × (up-after + 1): the return bound (one interval for the phase of the first probe), ms. */
    upMs: interval * (up + 1) * 1000,
  };
})();

export interface PoolSiteOptions {
  /** Number of instances (default 3), on 127.0.0.11 upwards. */
  instances?: number;
  /** srvproxy flags every instance gets (e.g. --peer-interval). */
  args?: string[];
  /** Flags for instance i (0-based) only. */
  argsFor?: (i: number) => string[];
  /** SRV priority of instance i in the zone (default 10 for all). */
  priorityOf?: (i: number) => number;
}

export class PoolInstance {
  proc: Proc | undefined;
  constructor(
    readonly site: PoolSite,
    readonly index: number,
    readonly fqdn: string,
    readonly address: string,
    readonly sipPort: number,
    readonly httpPort: number,
    private readonly args: string[],
  ) {}

  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Start (or restart) the process; resolves when /healthz answers. */
  async start(): Promise<void> {
    this.proc = await startSrvproxy(this.args, this.httpPort, this.fqdn.split('.')[0]);
  }

  async kill(): Promise<void> {
    await this.proc?.kill();
  }
}

export interface PoolSite {
  zoneDir: string;
  dnsPort: number;
  pair: SimPair;
  instances: PoolInstance[];
  stop(): Promise<void>;
}

/** A port free for UDP and TCP on every address given. */
async function portFreeOnAll(addresses: string[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort(addresses[0]);
    if ((await Promise.all(addresses.slice(1).map((a) => bindable(a, port)))).every(Boolean)) return port;
  }
  throw new Error(`no port free on all of ${addresses.join(', ')}`);
}

async function bindable(address: string, port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, address, () => s.close(() => resolve(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((resolve) => {
    const u = dgram.createSocket('udp4');
    u.once('error', () => resolve(false));
    u.bind(port, address, () => u.close(() => resolve(true)));
  });
}

export async function startPoolSite(o: PoolSiteOptions = {}): Promise<PoolSite> {
  const n = o.instances ?? 3;
  const proxies: ZoneMember[] = [];
  for (let i = 0; i < n; i++) {
    const address = `127.0.0.${11 + i}`;
    const priority = o.priorityOf?.(i);
    proxies.push({ name: `proxy${i + 1}`, address, port: await freePort(address), ...(priority === undefined ? {} : { priority }) });
  }
  const a: ZoneMember = { name: 'sips-a', address: '127.0.0.21', port: await freePort('127.0.0.21') };
  const b: ZoneMember = { name: 'sips-b', address: '127.0.0.22', port: await freePort('127.0.0.22') };
  const zoneDir = writeSiteZone({ proxies, pairs: { tserver: [a, b] } });
  const dnsPort = await portFreeOnAll(proxies.map((p) => p.address));
  const pair = await startSimPair({ primary: { address: a.address, port: a.port }, backup: { address: b.address, port: b.port } });
  const site: PoolSite = {
    zoneDir,
    dnsPort,
    pair,
    instances: [],
    stop: async () => {
      await Promise.all(site.instances.map((i) => i.kill()));
      await pair.stop();
    },
  };
  try {
    for (let i = 0; i < n; i++) {
      const p = proxies[i]!;
      const fqdn = `${p.name}.example.com`;
      const args = [
        '--self', fqdn, '--pair', 'tserver.example.com', '--zones', zoneDir, '--dns-port', String(dnsPort),
        ...(o.args ?? []), ...(o.argsFor?.(i) ?? []),
      ];
      site.instances.push(new PoolInstance(site, i, fqdn, p.address, p.port, await freePort('127.0.0.1'), args));
    }
    await Promise.all(site.instances.map((i) => i.start()));
    // Started together, instances may probe a peer before it listens and withdraw it for a
    // moment. Peers start healthy, so a whole answer alone proves nothing yet: the site is
    // ready when every instance has had an answer from every peer (an answer resets the
    // failure count) and answers every member.
    const all = JSON.stringify(expectedView(site.instances));
    await eventually(
      async () =>
        (await Promise.all(site.instances.map(peersAnswered))).every(Boolean) &&
        (await Promise.all(site.instances.map((i) => poolView(i.address, dnsPort)))).every((v) => JSON.stringify(v) === all),
      15_000,
      'every instance has heard from every peer and answers the whole pool',
      50,
    );
  } catch (e) {
    await site.stop();
    throw e;
  }
  return site;
}

/** True when the instance's /status shows every peer healthy with an answered probe (rttMs set). */
async function peersAnswered(inst: PoolInstance): Promise<boolean> {
  const r = await fetch(`${inst.http}/status`, { signal: AbortSignal.timeout(2000) });
  const doc = (await r.json()) as { pool: { members: { self: boolean; healthy: boolean; rttMs: number | null }[] } };
  return doc.pool.members.every((m) => m.self || (m.healthy && m.rttMs !== null));
}

// --- DNS questions --------------------------------------------------------

function resolver(address: string, port: number): dnsp.Resolver {
  const r = new dnsp.Resolver({ timeout: 400, tries: 1 });
  r.setServers([`${address}:${port}`]);
  return r;
}

/** SRV targets of `name` from the DNS at address:port, ordered by priority then name. */
export async function srvTargets(address: string, port: number, name: string): Promise<{ name: string; priority: number; port: number }[]> {
  const rrs = await resolver(address, port).resolveSrv(name);
  return rrs.map((r) => ({ name: r.name, priority: r.priority, port: r.port })).sort((x, y) => x.priority - y.priority || x.name.localeCompare(y.name));
}

/** Just the target names, sorted. */
export async function srvNames(address: string, port: number, name: string): Promise<string[]> {
  return (await srvTargets(address, port, name)).map((r) => r.name).sort();
}

/** The pool name's A records, sorted. */
async function poolAddresses(address: string, port: number): Promise<string[]> {
  return (await resolver(address, port).resolve4(POOL)).sort();
}

/** The SOA serial of example.com. */
export async function soaSerial(address: string, port: number): Promise<number> {
  return (await resolver(address, port).resolveSoa('example.com')).serial;
}

/** Addresses in the additional section of the answer to `name` SRV (raw query: the resolver API hides it). */
async function additionalAddresses(address: string, port: number, name: string): Promise<string[]> {
  const buf = await udpExchange(port, buildQuery(name, 'SRV', { edns: 1232 }), 1000, address);
  if (!buf) throw new Error(`no answer from ${address}:${port} for ${name} SRV`);
  const d = decode(buf);
  return d.additional
    .filter((l) => / IN A /.test(l))
    .map((l) => `${l.split(' ')[0]} ${l.split(' ').at(-1)}`)
    .sort();
}

/**
 * Everything the pool's DNS says about membership, as one comparable view:
 * SRV targets of each transport, the pool's A records, the additional A records.
 */
export async function poolView(address: string, port: number): Promise<{ srv: Record<string, string[]>; a: string[]; additional: string[] }> {
  const srv: Record<string, string[]> = {};
  for (const n of SRV_NAMES) srv[n] = await srvNames(address, port, n);
  return { srv, a: await poolAddresses(address, port), additional: await additionalAddresses(address, port, SRV_NAMES[0]) };
}

/** The view expected when exactly `members` (instances) are answered. */
export function expectedView(members: PoolInstance[]): { srv: Record<string, string[]>; a: string[]; additional: string[] } {
  const names = members.map((m) => m.fqdn).sort();
  const srv: Record<string, string[]> = {};
  for (const n of SRV_NAMES) srv[n] = names;
  return {
    srv,
    a: members.map((m) => m.address).sort(),
    additional: members.map((m) => `${m.fqdn}. ${m.address}`).sort(),
  };
}

/** One OPTIONS to the instance itself over UDP; the final status, or null on no answer. */
export async function optionsTo(inst: PoolInstance, timeoutMs = 1000): Promise<number | null> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const port = sock.address().port;
  const branch = 'z9hG4bK' + Math.random().toString(36).slice(2);
  const msg = [
    `OPTIONS sip:${inst.fqdn}:${inst.sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:test@example.com>;tag=${branch.slice(7, 15)}`,
    `To: <sip:${inst.fqdn}:${inst.sipPort}>`,
    `Call-ID: ${branch}@127.0.0.1`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  try {
    return await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => resolve(null), timeoutMs);
      sock.on('message', (buf) => {
        const m = /^SIP\/2\.0 (\d{3})/.exec(buf.toString('latin1'));
        if (m && Number(m[1]) >= 200) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      sock.send(msg, inst.sipPort, inst.address);
    });
  } finally {
    sock.close();
  }
}
