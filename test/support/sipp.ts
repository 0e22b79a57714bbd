/**
 * sipp (Debian package sip-tester) for interop tests: SIP Server stand-ins
 * (UAS) and call generators (UAC) with the project's scenarios in
 * scripts/bench/sipp/, and their statistics. Every sipp started here is
 * tracked and killed by `stopAllSipp()` (call it in an after() hook).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DIST, sleep } from './processes.js';
import { WatchedProcess } from './watched-process.js';

const run = promisify(execFile);

/** scripts/bench/sipp/ of the repository (dist/ sits in the repository root). */
const SIPP_SCENARIOS = path.resolve(DIST, '..', 'scripts', 'bench', 'sipp');

const live = new Set<Sipp>();
const made: Sipp[] = [];

/** Throws a clear error when a tool the interop tests need is missing. */
export async function requireTools(...tools: string[]): Promise<void> {
  for (const t of tools) {
    try {
      await run('sh', ['-c', `command -v ${t}`]);
    } catch {
      throw new Error(`${t} is not installed: run scripts/install-interop.sh`);
    }
  }
}

/** True when something listens on address:port/udp. */
async function udpBound(address: string, port: number): Promise<boolean> {
  const { stdout } = await run('ss', ['-Huln', 'src', `${address}:${port}`]);
  return stdout.trim() !== '';
}

export class Sipp extends WatchedProcess {
  private frozen = false;

  /** `netns`: run inside that network namespace (`ip netns exec NS sipp ...`). */
  constructor(
    args: string[],
    readonly dir: string,
    readonly name: string,
    netns?: string,
  ) {
    super(netns ? 'ip' : 'sipp', netns ? ['netns', 'exec', netns, 'sipp', ...args] : args, { cwd: dir, keep: 100_000 });
    live.add(this);
    made.push(this);
  }

  protected override ended(): void {
    live.delete(this);
  }

  signal(sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.running) return;
    this.frozen = sig === 'SIGSTOP' ? true : sig === 'SIGCONT' ? false : this.frozen;
    this.child.kill(sig);
  }

  kill(): Promise<number | null> {
    if (this.running) {
      if (this.frozen) this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    }
    return this.exited;
  }

  /** The events sipp logged with -trace_err (first `max` characters). */
  errors(max = 3000): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'errors.log'), 'utf8').replace(/\r/g, '').slice(0, max);
    } catch {
      return '';
    }
  }

  /**
   * The -trace_err events counted by kind, e.g. "3x while expecting '100'
   * (index 1), received SIP/2.0 503 Service Unavailable", one kind a line.
   */
  errorSummary(): string {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, 'errors.log'), 'utf8').replace(/\r/g, '');
    } catch {
      return '';
    }
    const kinds = new Map<string, number>();
    const re =
      /(while expecting '[^']*' \(index \d+\), received '[^\n]*)|(receive timeout on message \S+)|(Dead call) \S+ \((\w+)\), received '([^\n]*)|(Max retrans[^\n]{0,60})/g;
    for (const m of text.matchAll(re)) {
      const kind = (m[1] ?? m[2] ?? (m[3] ? `dead call (${m[4]}) received ${m[5]}` : m[6]) ?? '').replace(/'/g, '');
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    return [...kinds].map(([k, n]) => `${n}x ${k}`).join('\n');
  }
}

function workDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `srvproxy-sipp-${name}-`));
}

/**
 * A SIP Server stand-in on address:port running `scenario` (uas-rr.xml,
 * uas-backup.xml), answering OPTIONS with 200 (-aa). Resolves once it listens.
 */
export async function startUas(name: string, scenario: string, address: string, port: number): Promise<Sipp> {
  const dir = workDir(name);
  const uas = new Sipp(
    ['-sf', path.join(SIPP_SCENARIOS, scenario), '-i', address, '-p', String(port), '-aa', '-nostdin',
      '-trace_err', '-error_file', path.join(dir, 'errors.log'), '-max_log_size', '1000000', '-buff_size', '2097152'],
    dir,
    name,
  );
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    if (!uas.running) throw new Error(`sipp ${name} exited: ${uas.output.slice(-500)}`);
    if (await udpBound(address, port)) return uas;
    await sleep(50);
  }
  await uas.kill();
  throw new Error(`sipp ${name} not listening on ${address}:${port}: ${uas.output.slice(-500)}`);
}

export interface UacOptions {
  scenario: string;
  address: string;
  port: number;
  target: string;
  rate: number;
  calls: number;
  /** -d: how long each call is held, ms (scenarios with <pause/>). */
  holdMs?: number;
  /** -s: the user part of the Request-URI ([service]; sipp's default is "service"). */
  service?: string;
  /** -recv_timeout, ms (default 20000). */
  recvTimeoutMs?: number;
  /** Run inside this network namespace. */
  netns?: string;
}

/** A call generator; `stats()` after it exits. */
export function startUac(name: string, o: UacOptions): Sipp {
  const dir = workDir(name);
  const args = ['-sf', path.join(SIPP_SCENARIOS, o.scenario), '-i', o.address, '-p', String(o.port), o.target,
    '-r', String(o.rate), '-m', String(o.calls), '-l', '5000', '-nostdin',
    '-trace_stat', '-stf', 'stat.csv', '-fd', '1', '-trace_rtt', '-rtt_freq', '1',
    '-trace_err', '-error_file', path.join(dir, 'errors.log'), '-max_log_size', '1000000',
    '-recv_timeout', String(o.recvTimeoutMs ?? 20_000), '-buff_size', '2097152'];
  if (o.holdMs !== undefined) args.push('-d', String(o.holdMs));
  if (o.service !== undefined) args.push('-s', o.service);
  return new Sipp(args, dir, name, o.netns);
}

export interface SippStats {
  created: number;
  successful: number;
  /** created - successful: calls that failed or never finished. */
  failed: number;
  retransmissions: number;
  /** Slowest INVITE-to-200 time, ms (-trace_rtt). */
  slowestSetupMs: number;
}

/** Reads the last (cumulative) statistics row and the per-call setup times of a UAC. */
export function uacStats(uac: Sipp): SippStats {
  const rows = fs.readFileSync(path.join(uac.dir, 'stat.csv'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (rows.length < 2) throw new Error(`sipp ${uac.name}: no statistics row`);
  const head = rows[0]!.split(';');
  const last = rows[rows.length - 1]!.split(';');
  const num = (f: string) => Number(last[head.indexOf(f)] ?? 0) || 0;
  const created = num('TotalCallCreated');
  const successful = num('SuccessfulCall(C)');
  let slowestSetupMs = 0;
  const rtt = fs.readdirSync(uac.dir).find((f) => f.endsWith('_rtt.csv'));
  if (rtt) {
    for (const line of fs.readFileSync(path.join(uac.dir, rtt), 'utf8').split('\n').slice(1)) {
      const t = Number(line.split(';')[1]);
      if (Number.isFinite(t) && t > slowestSetupMs) slowestSetupMs = t;
    }
  }
  return { created, successful, failed: created - successful, retransmissions: num('Retransmissions(C)'), slowestSetupMs };
}

/** Kills every sipp started here and removes their work folders. */
export async function stopAllSipp(): Promise<void> {
  await Promise.all([...live].map((s) => s.kill()));
  for (const s of made.splice(0)) fs.rmSync(s.dir, { recursive: true, force: true });
}
