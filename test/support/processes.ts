/**
 * Child processes for end-to-end tests: srvproxy instances (the real CLI)
 * and anything else spawned with `node`. Every process started here is
 * tracked and killed by `stopAll()` (call it in an after() hook).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/ folder of the compiled project (this file is dist/test/support/processes.js). */
export const DIST = path.resolve(here, '../..');
const CLI = path.join(DIST, 'src/cli/main.js');

const live = new Set<Proc>();

export class Proc {
  readonly child: ChildProcess;
  output = '';
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;
  private frozen = false;

  constructor(script: string, args: string[], readonly name = path.basename(script), env?: Record<string, string>) {
    this.child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : undefined });
    const keep = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        live.delete(this);
        resolve(this.exitCode);
      });
    });
    live.add(this);
  }

  get running(): boolean {
    return this.exitCode === null && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    if (sig === 'SIGSTOP') this.frozen = true;
    if (sig === 'SIGCONT') this.frozen = false;
    this.child.kill(sig);
  }

  kill(): Promise<number | null> {
    if (this.running) {
      if (this.frozen) this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    }
    return this.exited;
  }

  /** Resolves when `re` appears in the output; rejects after `ms` or on exit. */
  async waitFor(re: RegExp, ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const m = re.exec(this.output);
      if (m) return m[0];
      if (!this.running) throw new Error(`${this.name} exited (${this.exitCode}) before ${re}:\n${this.output}`);
      await sleep(20);
    }
    throw new Error(`${this.name}: ${re} not seen in ${ms} ms:\n${this.output}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns true; rejects after `ms` with `what`. */
export async function eventually(fn: () => boolean | Promise<boolean>, ms: number, what: string, every = 50): Promise<number> {
  const start = Date.now();
  for (;;) {
    let ok: boolean;
    try {
      ok = await fn();
    } catch {
      ok = false;
    }
    if (ok) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(every);
  }
}

/** Runs `srvproxy run ARGS` and waits until its /healthz answers. */
export async function startSrvproxy(args: string[], httpPort: number, name = 'srvproxy', env?: Record<string, string>): Promise<Proc> {
  const p = new Proc(CLI, ['run', '--http', `127.0.0.1:${httpPort}`, '--log-format', 'json', ...args], name, env);
  await eventually(
    async () => {
      if (!p.running) throw new Error('exited');
      const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(500) });
      return r.status === 200;
    },
    15_000,
    `${name} /healthz`,
    50,
  ).catch((e: Error) => {
    throw new Error(`${name} did not start: ${e.message}\n${p.output}`);
  });
  return p;
}

/** Runs the CLI to completion: exit code and output. */
export function runCli(args: string[], ms = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`srvproxy ${args.join(' ')}: no exit in ${ms} ms`));
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}
