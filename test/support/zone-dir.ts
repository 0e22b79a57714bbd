/**
 * test/support/zone-dir: a temporary folder of zone files for one test file.
 * `write` returns the path; `cleanup` removes the folder (call it in after()).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export class ZoneDir {
  readonly root = mkdtempSync(join(tmpdir(), 'srvproxy-zone-'));
  private n = 0;

  /** Write `text` to `name` (relative to the folder; subfolders created) and return its path. */
  write(name: string, text: string): string {
    const p = join(this.root, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    return p;
  }

  /** A fresh subfolder for one case. */
  sub(): string {
    const p = join(this.root, `case${++this.n}`);
    mkdirSync(p);
    return p;
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Three lines every test zone starts with; body line k is file line k + HEAD_LINES. */
export const HEAD = '$TTL 30\n@ SOA ns1 hostmaster 1 3600 600 86400 5\n@ NS ns1\nns1 A 127.0.0.1\n';
export const HEAD_LINES = 4;
