/**
 * A child process for tests that keeps its output (stdout and stderr, the
 * last `keep` characters) and tells when it has ended: the common part of
 * sipp (test/support/sipp) and programs run inside network namespaces
 * (test/support/netns). Imports node only.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export class WatchedProcess {
  readonly child: ChildProcess;
  output = '';
  /** The exit code (128 when ended by a signal), or null when it could not be started. */
  readonly exited: Promise<number | null>;
  private done = false;

  constructor(cmd: string, args: string[], o: { cwd?: string; keep: number }) {
    this.child = spawn(cmd, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > o.keep) this.output = this.output.slice(-o.keep / 2);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.output += `spawn: ${e.message}`;
        this.finish();
        resolve(null);
      });
      this.child.on('exit', (code, signal) => {
        this.finish();
        resolve(code ?? (signal ? 128 : null));
      });
    });
  }

  get running(): boolean {
    return !this.done;
  }

  /** Called once when the process has ended (or could not start). */
  protected ended(): void {}

  private finish(): void {
    this.done = true;
    this.ended();
  }
}
