/**
 * sim/ha-pair: start a simulated SIP Server HA pair as two child processes
 * (sim/member.js) and steer them: kill (SIGKILL), freeze (SIGSTOP), thaw
 * (SIGCONT), a forced switchover (SIGUSR1/SIGUSR2), restart, stop. Used by
 * tests and the demo. Every child is SIGKILLed when this process exits, so a
 * crashed test run leaves nothing behind (a frozen child included).
 * May import: sim, node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Role } from './ha-member.js';
import type { MemberState } from './sip-server.js';

interface SimMemberSpec {
  address: string;
  port: number;
  /** TCP port of the sync link on `address`; default: a free port. */
  syncPort?: number;
}

export interface SimPairOptions {
  primary: SimMemberSpec;
  backup: SimMemberSpec;
  tcp?: boolean;
  /** > 0: INVITEs ring this long before the 200 (for CANCEL tests). */
  ringMs?: number;
  heartbeatMs?: number;
  /** Silence on the sync link after which the standby promotes itself (default 300 ms). */
  takeoverMs?: number;
  /** Members log to this process's stderr. */
  verbose?: boolean;
  /** Milliseconds to wait for a member to start (default 5000). */
  startTimeoutMs?: number;
}

interface SimEvent {
  ev: 'ready' | 'state' | 'partner' | 'exit';
  state?: MemberState;
  cause?: string;
  epoch?: number;
  up?: boolean;
  /** Date.now() when it happened (in the member). */
  at: number;
}

const MEMBER_JS = fileURLToPath(new URL('./member.js', import.meta.url));
const live = new Set<ChildProcess>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** A free TCP port on `address` (bound and released at once). */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, address, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

class SimMember {
  readonly role: Role;
  readonly address: string;
  readonly port: number;
  readonly syncPort: number;
  /** Every event the member reported, in order (and 'exit' when the process ended). */
  readonly events: SimEvent[] = [];
  private child: ChildProcess | undefined;
  private readonly args: string[];
  private readonly verbose: boolean;
  private readonly waiters = new Set<() => void>();
  private exited: Promise<void> = Promise.resolve();

  constructor(role: Role, spec: Required<SimMemberSpec>, partner: { address: string; syncPort: number }, opts: SimPairOptions) {
    this.role = role;
    this.address = spec.address;
    this.port = spec.port;
    this.syncPort = spec.syncPort;
    this.verbose = opts.verbose === true;
    this.args = [
      '--address', spec.address, '--port', String(spec.port), '--role', role,
      '--sync-port', String(spec.syncPort), '--partner', `${partner.address}:${partner.syncPort}`,
    ];
    if (opts.tcp) this.args.push('--tcp');
    if (opts.ringMs) this.args.push('--ring-ms', String(opts.ringMs));
    if (opts.heartbeatMs) this.args.push('--heartbeat-ms', String(opts.heartbeatMs));
    if (opts.takeoverMs) this.args.push('--takeover-ms', String(opts.takeoverMs));
    if (this.verbose) this.args.push('--verbose');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last state the member reported ('dead' once its process ended). */
  get state(): MemberState | 'dead' {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.ev === 'exit') return 'dead';
      if (e.state) return e.state;
    }
    return 'dead';
  }

  /** Start the process; resolves once it listens. */
  async start(initial?: MemberState, timeoutMs = 5000): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error(`sim member ${this.address} is running`);
    installExitHook();
    const args = [MEMBER_JS, ...this.args];
    if (initial) args.push('--initial', initial);
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', this.verbose ? 'inherit' : 'ignore'] });
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        this.push({ ev: 'exit', at: Date.now() });
        resolve();
      });
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.push(JSON.parse(line) as SimEvent);
      } catch {
        // not an event line
      }
    });
    child.stdin.on('error', () => {});
    const since = this.events.length;
    await this.waitFor((e) => e.ev === 'ready' || e.ev === 'exit', timeoutMs, since);
    if (this.events.at(-1)?.ev === 'exit') throw new Error(`sim member ${this.address}:${this.port} exited at start (address in use?)`);
  }

  /** SIGKILL; resolves when the process is gone. */
  async kill(): Promise<void> {
    if (!this.running()) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP: the process stops answering anything, with no ICMP either. */
  freeze(): void {
    if (this.running()) this.child!.kill('SIGSTOP');
  }

  /** SIGCONT. */
  thaw(): void {
    if (this.running()) this.child!.kill('SIGCONT');
  }

  /** Forced switchover from this member: it stands by, the partner takes over (SIGUSR1). */
  demote(): void {
    if (this.running()) this.child!.kill('SIGUSR1');
  }

  /** Forced switchover to this member: it becomes active, the partner stands by (SIGUSR2). */
  promote(): void {
    if (this.running()) this.child!.kill('SIGUSR2');
  }

  /** Stop the process (a frozen one too); resolves when it is gone. */
  async stop(): Promise<void> {
    await this.kill();
  }

  /** Resolves with the first event at index >= since matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (e: SimEvent) => boolean, timeoutMs: number, since = 0): Promise<SimEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = since; i < this.events.length; i++) {
          if (pred(this.events[i]!)) {
            resolve(this.events[i]!);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`sim member ${this.address}: no matching event within ${timeoutMs} ms (last: ${JSON.stringify(this.events.at(-1))})`));
      }, timeoutMs);
      const w = () => {
        if (check()) {
          clearTimeout(timer);
          this.waiters.delete(w);
        }
      };
      this.waiters.add(w);
    });
  }

  /** Resolves when the member reports `state` (at once if that is its last reported state). */
  async waitForState(state: MemberState, timeoutMs: number): Promise<SimEvent> {
    if (this.state === state) {
      for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.state === state) return this.events[i]!;
    }
    return this.waitFor((e) => e.ev === 'state' && e.state === state, timeoutMs, this.events.length);
  }

  private running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private push(e: SimEvent): void {
    this.events.push(e);
    for (const w of [...this.waiters]) w();
  }
}

export interface SimPair {
  primary: SimMember;
  backup: SimMember;
  /** The member whose last reported state is active, if any. */
  active(): SimMember | undefined;
  /** Kill both members; resolves when both are gone. */
  stop(): Promise<void>;
}

/**
 * Start the primary (active), then the backup (standby), and wait until each
 * hears the other's heartbeats. Call `stop()` in an after() hook.
 */
export async function startSimPair(opts: SimPairOptions): Promise<SimPair> {
  const pSync = opts.primary.syncPort ?? (await freePort(opts.primary.address));
  const bSync = opts.backup.syncPort ?? (await freePort(opts.backup.address));
  const primary = new SimMember('primary', { ...opts.primary, syncPort: pSync }, { address: opts.backup.address, syncPort: bSync }, opts);
  const backup = new SimMember('backup', { ...opts.backup, syncPort: bSync }, { address: opts.primary.address, syncPort: pSync }, opts);
  const pair: SimPair = {
    primary,
    backup,
    active: () => [primary, backup].find((m) => m.state === 'active'),
    stop: async () => {
      await Promise.all([primary.stop(), backup.stop()]);
    },
  };
  const t = opts.startTimeoutMs ?? 5000;
  try {
    await primary.start(undefined, t);
    await backup.start(undefined, t);
    await Promise.all([
      primary.waitFor((e) => e.ev === 'partner' && e.up === true, t),
      backup.waitFor((e) => e.ev === 'partner' && e.up === true, t),
    ]);
  } catch (err) {
    await pair.stop();
    throw err;
  }
  return pair;
}
