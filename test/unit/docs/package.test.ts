import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/unit/docs -> repository root
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

interface Pkg {
  main?: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Pkg;

describe('package.json stays true', () => {
  it('bin (and main, if any) name files that the build writes', () => {
    const files = [...Object.values(pkg.bin), ...(pkg.main === undefined ? [] : [pkg.main])];
    expect(files).to.include('dist/src/cli/main.js');
    for (const f of files) expect(fs.existsSync(path.join(ROOT, f)), f).to.equal(true);
  });

  it('pins every dependency to an exact version', () => {
    for (const [name, v] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(v, name).to.match(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    }
  });
});
