import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUN_OPTIONS } from '../../../src/config/options.js';
import { EVENTS } from '../../../src/shared/events.js';

// dist/test/unit/docs -> repository root
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('README stays true', () => {
  it('documents every event code', () => {
    for (const e of Object.values(EVENTS)) expect(readme, e.code).to.include(`\`${e.code}\``);
  });

  it('documents every error code used in src/', () => {
    const codes = new Set<string>();
    for (const f of sourceFiles(path.join(ROOT, 'src'))) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/'(SRV_ERR_[A-Z_]+)'/g)) codes.add(m[1]!);
    }
    expect(codes.size).to.be.greaterThan(3);
    for (const c of codes) expect(readme, c).to.include(`\`${c}\``);
  });

  it('documents every metric family', () => {
    const names = new Set<string>();
    for (const f of sourceFiles(path.join(ROOT, 'src'))) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:counter|gauge)\('(srvproxy_[a-z_]+)'/g)) names.add(m[1]!);
    }
    expect(names.size).to.be.greaterThan(20);
    expect(names).to.include('srvproxy_sip_target_failures_total');
    for (const n of names) expect(readme, n).to.include(`\`${n}\``);
  });

  it('documents every option of srvproxy run', () => {
    for (const name of Object.keys(RUN_OPTIONS)) expect(readme, name).to.match(new RegExp('`--' + name + '[ `]'));
  });

  it('names only npm scripts that exist', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const named = [...readme.matchAll(/npm run ([a-z0-9:-]+)/g)].map((m) => m[1]!);
    expect(named).to.include('test:interop');
    for (const n of named) expect(pkg.scripts, n).to.have.property(n);
  });

  it('documents every npm script (prepare runs inside npm ci)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const n of Object.keys(pkg.scripts)) {
      if (n === 'prepare') continue;
      const as = n === 'start' || n === 'test' ? [`npm ${n}`, `npm run ${n}`] : [`npm run ${n}`];
      expect(as.some((a) => new RegExp(a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '(?![a-z:-])').test(readme)), n).to.equal(true);
    }
  });
});
