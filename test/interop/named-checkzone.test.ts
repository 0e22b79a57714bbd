/**
 * srvproxy's zone parser against BIND's named-checkzone on the same files:
 * the shipped zones/ and the fixtures in test/fixtures/zones/.
 *   valid/     both accept, and the records agree (count and rdata, compared
 *              with `named-checkzone -D -o -`, which prints every record)
 *   invalid/   both reject; where BIND names a line, srvproxy names it too
 *   stricter/  BIND accepts (perhaps with a warning), srvproxy refuses on
 *              purpose (each file's first line says why)
 * named-checkzone runs as named loads a primary zone: check-names fail
 * (`-k fail`), integrity checks on in-zone names only (`-i local`, so it never
 * resolves outside names), in the file's folder (BIND reads $INCLUDE paths
 * relative to its working directory, srvproxy relative to the including file;
 * the fixtures use paths that mean the same to both).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lex } from '../../src/zone/lexer.js';
import { checkZoneFiles, loadZones, originFromFileName } from '../../src/zone/load.js';
import { parseZoneFile } from '../../src/zone/parser.js';
import { formatRR } from '../../src/zone/present.js';
import { canonicalIPv6 } from '../../src/zone/values.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/zones');
const zonesIn = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.zone')).sort().map((f) => join(d, f));

/** Where srvproxy names a different (more useful) line than BIND, and why. */
const LINE_DIFFERENCES: Record<string, string> = {
  'unbalanced-paren.example.zone': "srvproxy reports the line of the unclosed '(', BIND the end of the file",
};

interface Named { ok: boolean; records: string[]; lines: number[]; output: string }

function named(file: string, origin: string): Named {
  const r = spawnSync('named-checkzone', ['-k', 'fail', '-i', 'local', '-D', '-o', '-', origin, basename(file)], {
    cwd: dirname(file), encoding: 'utf8', timeout: 10000,
  });
  if (r.error) throw r.error;
  const output = `${r.stdout}\n${r.stderr}`;
  const records = r.stdout.split('\n').filter((l) => /^\S+\s+\d+\s+IN\s+\S+/.test(l)).map(normalize);
  const lines = [...r.stderr.matchAll(new RegExp(`${basename(file).replace(/\./g, '\\.')}:(\\d+):`, 'g'))].map((m) => Number(m[1]));
  return { ok: r.status === 0, records, lines, output };
}

/** Name fields (by type) compared case-insensitively; everything else as text. */
const NAME_FIELDS: Record<string, number[]> = { NS: [0], CNAME: [0], PTR: [0], MX: [1], SRV: [3], SOA: [0, 1], NAPTR: [5] };

/** One record line, BIND's or ours, in a form both print identically. */
function normalize(line: string): string {
  const toks = lex(line).entries[0].tokens;
  const [owner, ttl, , type, ...rd] = toks;
  const t = type.text.toUpperCase();
  const fields = rd.map((tok, i) => {
    if (tok.quoted) return JSON.stringify(tok.text);
    if (t === 'AAAA') return canonicalIPv6(tok.text);
    return (NAME_FIELDS[t] ?? []).includes(i) ? tok.text.toLowerCase() : tok.text;
  });
  return [owner.text.toLowerCase(), ttl.text, 'IN', t, ...fields].join(' ');
}

function ours(file: string): { origin: string; records: string[] } {
  const origin = parseZoneFile(file, originFromFileName(file)).origin ?? '';
  const zone = loadZones([file]).zones[0];
  return { origin, records: zone.records.map((rr) => normalize(formatRR(rr))) };
}

describe('interop: named-checkzone and srvproxy agree on zone files', function () {
  this.timeout(60000);

  before(() => {
    const r = spawnSync('named-checkzone', ['-v'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new Error('named-checkzone is not installed: run the interop installer (scripts/, or `apt-get install -y bind9-utils`) first');
    }
  });

  const validFiles = [...zonesIn(join(ROOT, 'zones')), ...zonesIn(join(FIXTURES, 'valid'))];
  it('has fixtures to compare', () => {
    expect(validFiles.length).to.be.greaterThan(5);
    expect(zonesIn(join(FIXTURES, 'invalid')).length).to.be.greaterThan(20);
    expect(zonesIn(join(FIXTURES, 'stricter')).length).to.be.greaterThan(5);
  });

  for (const file of validFiles) {
    it(`valid for both, same records: ${file.slice(ROOT.length)}`, () => {
      expect(checkZoneFiles([file]).problems, 'srvproxy problems').to.deep.equal([]);
      const mine = ours(file);
      const theirs = named(file, mine.origin);
      expect(theirs.ok, theirs.output).to.equal(true);
      expect(mine.records.length, 'record count').to.equal(theirs.records.length);
      expect([...mine.records].sort()).to.deep.equal([...theirs.records].sort());
    });
  }

  for (const file of zonesIn(join(FIXTURES, 'invalid'))) {
    it(`invalid for both: ${file.slice(ROOT.length)}`, () => {
      const problems = checkZoneFiles([file]).problems;
      expect(problems.length, 'srvproxy accepted it').to.be.greaterThan(0);
      const theirs = named(file, originFromFileName(file) ?? '');
      expect(theirs.ok, `named-checkzone accepted it:\n${theirs.output}`).to.equal(false);
      // Where BIND names a line of this file for an error, srvproxy reports that line too.
      if (LINE_DIFFERENCES[basename(file)]) return;
      const errLines = theirs.lines.filter((l) => !new RegExp(`:${l}: (no TTL specified; using|TTL set to prior)`).test(theirs.output));
      const mineLines = problems.filter((p) => p.file === file).map((p) => p.line);
      for (const l of errLines) expect(mineLines, `BIND: ${theirs.output}\nsrvproxy: ${JSON.stringify(problems)}`).to.include(l);
    });
  }

  for (const file of zonesIn(join(FIXTURES, 'stricter'))) {
    const why = readFileSync(file, 'utf8').split('\n')[0].replace(/^;\s*/, '');
    it(`BIND accepts, srvproxy refuses (${why}): ${file.slice(ROOT.length)}`, () => {
      expect(why).to.match(/^stricter than named-checkzone: /);
      expect(named(file, originFromFileName(file) ?? '').ok).to.equal(true);
      expect(checkZoneFiles([file]).problems.length).to.be.greaterThan(0);
    });
  }
});
