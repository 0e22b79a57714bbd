/**
 * scripts/bench/charts.mjs, as bench.sh runs it: the per-step figures of a
 * small made-up run (test/fixtures/bench/steps.jsonl) in, SVG charts out,
 * with each series drawn through every one of its steps and the axes named.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
// dist/test/unit/bench -> repository root
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const SCRIPT = path.join(ROOT, 'scripts/bench/charts.mjs');
const FIXTURE = path.join(ROOT, 'test/fixtures/bench/steps.jsonl');

/** The `<g class="series">` groups: name -> points drawn. */
function series(svg: string): Record<string, number> {
  return Object.fromEntries([...svg.matchAll(/<g class="series" data-series="([^"]+)" data-points="(\d+)">/g)].map((m) => [m[1]!, Number(m[2])]));
}

describe('bench charts (scripts/bench/charts.mjs)', function () {
  this.timeout(15_000);
  let dir = '';

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-charts-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('draws calls/s and failed calls per step for both proxies, and DNS q/s per round for both servers', async () => {
    const { stdout } = await run(process.execPath, [SCRIPT, FIXTURE, dir], { timeout: 10_000 });
    expect(stdout).to.equal(`charts: ${path.join(dir, 'sip-calls.svg')}\ncharts: ${path.join(dir, 'dns-qps.svg')}\n`);

    const sip = fs.readFileSync(path.join(dir, 'sip-calls.svg'), 'utf8');
    expect(sip).to.match(/^<\?xml[^>]*>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(sip.trimEnd()).to.match(/<\/svg>$/);
    // two panels (calls/s set up, failed calls), each with both proxies through all their steps
    expect([...sip.matchAll(/<g class="series" data-series="srvproxy" data-points="4">/g)]).to.have.length(2);
    expect([...sip.matchAll(/<g class="series" data-series="kamailio" data-points="3">/g)]).to.have.length(2);
    expect(sip).to.include('>calls/s set up</text>').and.include('>failed calls</text>').and.include('>asked rate, calls/s</text>');
    expect(sip).to.include('srvproxy: asked 1500/s, set up 1210.4/s, 412 of 9000 failed (not clean)');
    // a step that was not clean is drawn hollow
    expect([...sip.matchAll(/fill="#ffffff" stroke="#1f6fb4"/g)]).to.have.length(2);

    const dns = fs.readFileSync(path.join(dir, 'dns-qps.svg'), 'utf8');
    expect(series(dns)).to.deep.equal({ srvproxy: 2, gdnsd: 2 });
    expect(dns).to.include('>queries/s</text>').and.include('>round</text>').and.include('gdnsd: round 2: 121003 q/s');
    // the y axis reaches past the highest figure
    expect(dns).to.include('>125k</text>');
  });

  it('writes only the charts the run has steps for', async () => {
    const steps = path.join(dir, 'steps.jsonl');
    fs.writeFileSync(steps, '{"part":"dns","series":"srvproxy","round":1,"qps":50000}\n');
    const { stdout } = await run(process.execPath, [SCRIPT, steps, dir], { timeout: 10_000 });
    expect(stdout).to.equal(`charts: ${path.join(dir, 'dns-qps.svg')}\n`);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['dns-qps.svg', 'steps.jsonl']);
  });

  it('names the line of a broken record and exits 1', async () => {
    const steps = path.join(dir, 'steps.jsonl');
    fs.writeFileSync(steps, '{"part":"dns","series":"srvproxy","round":1,"qps":50000}\n{"part":"sip",\n');
    const err = await run(process.execPath, [SCRIPT, steps, dir], { timeout: 10_000 }).then(
      () => expect.fail('a broken record was accepted'),
      (e: { code: number; stderr: string }) => e,
    );
    expect(err.code).to.equal(1);
    expect(err.stderr).to.equal(`charts: ${steps}:2: not a JSON object\n`);
  });
});
