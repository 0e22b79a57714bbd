/**
 * Test doubles for the health plane's state machines: a scripted Prober whose
 * replies fall due on the FakeClock, a logger that records events, and a
 * stepper that moves the FakeClock one millisecond at a time and lets promise
 * callbacks run in between (so a reply is seen at the fake time it arrives).
 */
import type { FakeClock } from '../../../src/shared/clock.js';
import type { ProbeResult, ProbeTarget, Prober } from '../../../src/shared/health.js';
import type { Logger } from '../../../src/shared/log.js';
import type { HaPair, PoolMember, SiteModel } from '../../../src/zone/types.js';

/** How a target replies to one probe: a status after `afterMs`, or silence until the probe times out. */
export type Reply = { status: number; afterMs: number } | 'silent';

export interface ProbeCall {
  at: number;
  host: string;
  timeoutMs: number;
}

export class ScriptedProber implements Prober {
  readonly calls: ProbeCall[] = [];
  /** The reply per target host; a function gets the call's index among that host's calls. */
  private readonly script = new Map<string, (n: number) => Reply>();
  private readonly counts = new Map<string, number>();

  constructor(private readonly clock: FakeClock) {}

  /** Every probe of `host` gets `reply` from now on. */
  set(host: string, reply: Reply | ((n: number) => Reply)): this {
    this.script.set(host, typeof reply === 'function' ? reply : () => reply);
    return this;
  }

  probe(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
    const at = this.clock.now();
    this.calls.push({ at, host: target.host, timeoutMs });
    const n = this.counts.get(target.host) ?? 0;
    this.counts.set(target.host, n + 1);
    const reply = this.script.get(target.host)?.(n) ?? 'silent';
    return new Promise((resolve) => {
      if (reply === 'silent') {
        this.clock.setTimeout(() => resolve({ status: null, rttMs: timeoutMs, error: 'timeout' }), timeoutMs);
      } else {
        this.clock.setTimeout(() => resolve({ status: reply.status, rttMs: reply.afterMs }), reply.afterMs);
      }
    });
  }

  /** Calls as "time:host" strings, from `since` on. */
  trace(since = 0): string[] {
    return this.calls.filter((c) => c.at >= since).map((c) => `${c.at}:${c.host}`);
  }
}

export interface LoggedEvent {
  level: string;
  event?: string;
  [k: string]: unknown;
}

/** A Logger stand-in that records every entry synchronously. */
export function recordingLogger(): { log: Logger; entries: LoggedEvent[]; events: (code?: string) => LoggedEvent[] } {
  const entries: LoggedEvent[] = [];
  const log = {
    log(level: string, message: string, meta: Record<string, unknown> = {}) {
      entries.push({ level, message, ...meta });
    },
    debug() {},
    info() {},
    warn() {},
    error() {},
    isDebugEnabled: () => false,
  } as unknown as Logger;
  return {
    log,
    entries,
    events: (code?: string) => entries.filter((e) => e.event !== undefined && (code === undefined || e.event === code)),
  };
}

/** Advance the fake clock by `ms`, one millisecond at a time, letting promise callbacks run after each step. */
export async function run(clock: FakeClock, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    clock.advance(1);
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Let pending promise callbacks run without moving the clock. */
export async function settle(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
}

export function pairOf(name: string, primary: string, backup: string, port = 5060): HaPair {
  return {
    name,
    members: [
      { target: primary, port, address: '127.0.0.21', addresses: ['127.0.0.21'], role: 'primary', transport: 'udp' },
      { target: backup, port, address: '127.0.0.22', addresses: ['127.0.0.22'], role: 'backup', transport: 'udp' },
    ],
  };
}

export function poolMember(target: string, address: string): PoolMember {
  return { target, port: 5060, priority: 10, weight: 50, transports: ['udp'], addresses: [address] };
}

export function siteOf(self: string, members: PoolMember[], pairs: HaPair[]): SiteModel {
  const me = members.find((m) => m.target === self)!;
  return { pool: { name: 'sipproxy.example.com', members }, self: me, local: [self], pairs, servingPair: pairs[0]! };
}
