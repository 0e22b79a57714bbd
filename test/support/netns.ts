/**
 * Network namespaces for interop tests that need hosts on separate networks
 * (a user agent behind NAT): a lab is a set of namespaces named
 * `PREFIX-<pid of the test>-<role>`, with veth pairs and addresses that exist
 * only inside them; nothing is added to the root namespace. Processes run in
 * a namespace through `ip netns exec` (which execs, so the pid is the
 * program's). `destroy()` kills every process left in the lab's namespaces,
 * by the pids `ip netns pids` lists, and deletes them; `create()` first does
 * the same for namespaces a previous run left behind (its pid is gone).
 * Needs root and iproute2 (`ip`); NAT rules need iptables. Imports node only.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { WatchedProcess } from './watched-process.js';

const run = promisify(execFile);

/** Runs a command to completion; rejects with its stderr. */
export async function sh(cmd: string, args: string[], ms = 10_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: ms });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`, { cause: e });
  }
}

/** A program running inside a namespace; output kept (the last 400 kB). */
export class NsProc extends WatchedProcess {
  constructor(readonly ns: string, cmd: string, args: string[], readonly name = cmd) {
    super('ip', ['netns', 'exec', ns, cmd, ...args], { keep: 400_000 });
  }

  /** Sends `sig`, then SIGKILL if still running after `graceMs`. */
  async stop(sig: NodeJS.Signals = 'SIGKILL', graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.child.kill(sig);
    if (sig === 'SIGKILL') {
      await this.exited;
      return;
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

async function pidsIn(ns: string): Promise<number[]> {
  const out = await sh('ip', ['netns', 'pids', ns]).catch(() => '');
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Kills what runs in `ns` (SIGKILL, by pid), waits for it to go, and deletes `ns`. */
async function removeNamespace(ns: string): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const pids = await pidsIn(ns);
    if (pids.length === 0 || Date.now() > end) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
}

export class NetnsLab {
  private constructor(
    readonly prefix: string,
    private readonly names: Map<string, string>,
  ) {}

  /**
   * Makes one namespace per role (loopback up). Removes namespaces of this
   * prefix that a previous run left (the pid in their name is gone). Throws
   * a clear error when namespaces cannot be made (not root).
   */
  static async create(prefix: string, roles: string[]): Promise<NetnsLab> {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error(`${prefix}: this test makes network namespaces and NAT rules and must run as root (uid ${process.getuid()})`);
    }
    const listed = await sh('ip', ['netns', 'list']).catch((e: Error) => {
      throw new Error(`${prefix}: cannot list network namespaces (iproute2 missing? run scripts/install-interop.sh): ${e.message}`);
    });
    const stale = new RegExp(`^(${prefix}-(\\d+)-\\S+)`);
    for (const line of listed.split('\n')) {
      const m = stale.exec(line.trim());
      if (m && !fs.existsSync(`/proc/${m[2]}`)) await removeNamespace(m[1]!);
    }
    const names = new Map<string, string>();
    const lab = new NetnsLab(prefix, names);
    try {
      for (const role of roles) {
        const ns = `${prefix}-${process.pid}-${role}`;
        await sh('ip', ['netns', 'add', ns]);
        names.set(role, ns);
        await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      }
    } catch (e) {
      await lab.destroy();
      throw new Error(`${prefix}: cannot make network namespaces: ${(e as Error).message}`, { cause: e });
    }
    return lab;
  }

  /** The namespace name of `role`. */
  ns(role: string): string {
    const n = this.names.get(role);
    if (!n) throw new Error(`${this.prefix}: no namespace for role ${role}`);
    return n;
  }

  /** Runs a command in the namespace of `role` to completion. */
  exec(role: string, cmd: string, args: string[], ms?: number): Promise<string> {
    return sh('ip', ['netns', 'exec', this.ns(role), cmd, ...args], ms);
  }

  /** Runs `ip ARGS` in the namespace of `role`. */
  ip(role: string, ...args: string[]): Promise<string> {
    return sh('ip', ['-n', this.ns(role), ...args]);
  }

  /** Starts a long-running program in the namespace of `role`. */
  spawn(role: string, cmd: string, args: string[], name = cmd): NsProc {
    return new NsProc(this.ns(role), cmd, args, name);
  }

  /** A veth pair made directly inside the two namespaces: `a` in roleA, `b` in roleB, both up. */
  async veth(roleA: string, a: string, roleB: string, b: string): Promise<void> {
    await this.ip(roleA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', this.ns(roleB));
    await this.ip(roleA, 'link', 'set', a, 'up');
    await this.ip(roleB, 'link', 'set', b, 'up');
  }

  /** True when something listens on address:port (udp or tcp) in the namespace of `role`. */
  async listening(role: string, proto: 'udp' | 'tcp', address: string, port: number): Promise<boolean> {
    const out = await this.exec(role, 'ss', [proto === 'udp' ? '-Huln' : '-Htln', 'src', `${address}:${port}`]).catch(() => '');
    return out.trim() !== '';
  }

  /** Kills every process left in the lab's namespaces and deletes them. */
  async destroy(): Promise<void> {
    for (const ns of [...this.names.values()].reverse()) await removeNamespace(ns);
    this.names.clear();
  }
}
