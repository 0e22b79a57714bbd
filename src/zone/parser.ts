/**
 * zone/parser: RFC 1035 master files to records. Hand-written (see lexer.ts
 * for why): directives $ORIGIN, $TTL and $INCLUDE (path relative to the
 * including file, optional origin argument, loops and missing files
 * reported), @, relative and absolute names, omitted owner / TTL / class,
 * class IN only. TTL defaults follow BIND: $TTL when set; else the last
 * explicit TTL (RFC 1035); an SOA with neither takes its MINIMUM (a warning);
 * any other record with neither is an error. Every problem of every file is
 * collected with file:line; the caller decides whether records are usable.
 * May import: shared, zone/lexer, zone/values, zone/rdata, zone/types, zone/name-index.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ZoneProblem } from '../shared/errors.js';
import type { RR, RRType, RRsetOf } from './types.js';
import type { NameIndex } from './name-index.js';
import { lexEach, type Entry, type Token } from './lexer.js';
import { NameTable, ValueError, isTtl, parseName, parseTtl } from './values.js';
import { RdataError, SUPPORTED_TYPES, parseRdata } from './rdata.js';

export interface ParsedFile {
  /** The zone apex: the origin in force at the first record (or $INCLUDE) of the main file. */
  origin: string | undefined;
  records: RR[];
  /** The number of each record's owner name in `index` (ids[i] for records[i]). */
  ids: number[];
  /** The number of each record's target name in `index`, -1 for none (see NamedRecords). */
  targets: number[];
  /** Every name the records own or name. */
  index: NameIndex;
  problems: ZoneProblem[];
  warnings: ZoneProblem[];
  /** The main file, then every file it included, in order. */
  files: string[];
}

/** Files larger than this are refused rather than read (memory stays bounded). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** All files of one zone together (includes may repeat a file): bounded too. */
const MAX_ZONE_BYTES = 256 * 1024 * 1024;
const MAX_INCLUDE_DEPTH = 16;

/** Types whose RDATA names a target (checks.ts refTarget), last of its names. */
const HAS_TARGET: ReadonlySet<RRType> = new Set<RRType>(['NS', 'CNAME', 'SRV', 'MX', 'NAPTR']);
/** SUPPORTED_TYPES, for a lookup by the token's text. */
const SUPPORTED: ReadonlySet<string> = new Set(SUPPORTED_TYPES);
/**
 * A type token's text (either case) to the type's constant string: a record's
 * type is then the one string every later `rr.type === 'SRV'`, switch and
 * table lookup compares by reference, never a copy cut from the file's text.
 */
const TYPE_OF: ReadonlyMap<string, RRType> = new Map(SUPPORTED_TYPES.flatMap((t) => [[t, t], [t.toLowerCase(), t]] as [string, RRType][]));
const KNOWN_CLASSES = new Set(['IN', 'CH', 'CS', 'HS', 'NONE', 'ANY']);
/** Types BIND knows that srvproxy does not serve: reported as unsupported rather than unknown. */
const OTHER_TYPES = new Set(['HINFO', 'DNAME', 'DS', 'DNSKEY', 'RRSIG', 'NSEC', 'NSEC3', 'NSEC3PARAM', 'TLSA', 'SSHFP',
  'SPF', 'LOC', 'RP', 'AFSDB', 'SVCB', 'HTTPS', 'URI', 'CDS', 'CDNSKEY', 'OPENPGPKEY', 'SMIMEA', 'ZONEMD', 'CERT',
  'KX', 'DHCID', 'APL', 'IPSECKEY', 'WKS', 'MB', 'MG', 'MR', 'MINFO', 'NULL', 'A6', 'EUI48', 'EUI64']);

interface Shared {
  records: RR[];
  ids: number[];
  targets: number[];
  problems: ZoneProblem[];
  warnings: ZoneProblem[];
  files: string[];
  defaultTtl: number | undefined;
  lastTtl: number | undefined;
  apex: string | undefined;
  /** Real paths of the files being read, outermost first (for loop detection). */
  stack: string[];
  bytes: number;
  /** Owner and RDATA names, each parsed once and shared by every record that names it. */
  names: NameTable;
}

/**
 * Parse `file` and everything it includes. `origin` is the zone's origin
 * unless the file sets $ORIGIN before its first record; undefined when it
 * must (then a record before any $ORIGIN is an error).
 */
export function parseZoneFile(file: string, origin: string | undefined): ParsedFile {
  const sh: Shared = { records: [], ids: [], targets: [], problems: [], warnings: [], files: [], defaultTtl: undefined, lastTtl: undefined, apex: undefined, stack: [], bytes: 0, names: new NameTable() };
  const text = readZoneText(file, sh, { file, line: 0 });
  if (text !== undefined) {
    sh.stack.push(safeRealpath(file));
    parseText(text, file, origin, sh, true);
  }
  return { origin: sh.apex ?? origin, records: sh.records, ids: sh.ids, targets: sh.targets, index: sh.names, problems: sh.problems, warnings: sh.warnings, files: sh.files };
}

function safeRealpath(p: string): string {
  try { return realpathSync(p); } catch { return p; }
}

function readZoneText(file: string, sh: Shared, at: { file: string; line: number }): string | undefined {
  /** A problem with the main file is reported on it; with an included one, on the $INCLUDE line naming it. */
  const name = at.file === file && at.line === 0 ? '' : `${file}: `;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw Object.assign(new Error(), { code: 'EISDIR' });
    if (st.size > MAX_FILE_BYTES) {
      sh.problems.push({ ...at, message: `${name}file of ${st.size} bytes is over the ${MAX_FILE_BYTES}-byte limit` });
      return undefined;
    }
    if (sh.bytes + st.size > MAX_ZONE_BYTES) {
      sh.problems.push({ ...at, message: `${name}the zone's files together exceed ${MAX_ZONE_BYTES} bytes` });
      return undefined;
    }
    sh.bytes += st.size;
    const text = readFileSync(file, 'utf8');
    sh.files.push(file);
    return text;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'not a regular file' : code === 'EACCES' ? 'permission denied' : String(code ?? e);
    sh.problems.push({ ...at, message: `${name}${why}` });
    return undefined;
  }
}

function parseText(text: string, file: string, startOrigin: string | undefined, sh: Shared, main: boolean): void {
  // Lexical problems come first in the report, as if the file had been lexed whole first.
  const at = sh.problems.length;
  const lexProblems: ZoneProblem[] = [];
  let origin = startOrigin;
  let owner: string | undefined;
  let ownerId = 0;
  let ownerBad = false;
  let ownerRaw = '';
  let ownerOrigin: string | undefined;
  const problem = (line: number, message: string): void => { sh.problems.push({ file, line, message }); };

  const onEntry = (e: Entry): void => {
    const first = e.tokens[0]!;
    if (!e.blankStart && first.text.startsWith('$') && !first.quoted) {
      const dir = first.text.toUpperCase();
      const args = e.tokens.slice(1);
      if (dir === '$ORIGIN') {
        if (args.length !== 1) { problem(e.line, '$ORIGIN needs exactly one name'); return; }
        try { origin = parseName(args[0].text, origin ?? ''); } catch (err) { problem(e.line, `$ORIGIN: ${msg(err)}`); }
      } else if (dir === '$TTL') {
        if (args.length !== 1) { problem(e.line, '$TTL needs exactly one TTL'); return; }
        try { sh.defaultTtl = parseTtl(args[0].text); } catch (err) { problem(e.line, `$TTL: ${msg(err)}`); }
      } else if (dir === '$INCLUDE') {
        if (main && sh.apex === undefined) sh.apex = origin;
        include(e, args, file, origin, sh);
      } else {
        problem(e.line, `unknown directive '${first.text}'`);
      }
      return;
    }
    if (origin === undefined) {
      problem(e.line, 'no origin: name the file ORIGIN.zone or start it with $ORIGIN');
      return;
    }
    if (main && sh.apex === undefined) sh.apex = origin;
    let rest: number;
    if (e.blankStart) {
      if (ownerBad) return;
      if (owner === undefined) { problem(e.line, 'no owner name: the first record must name its owner'); return; }
      rest = 0;
    } else {
      ownerBad = true;
      if (first.quoted) { problem(e.line, 'an owner name cannot be a quoted string'); return; }
      // The same owner text as the last record's, under the same origin: the same name (one string for both).
      if (owner === undefined || first.text !== ownerRaw || origin !== ownerOrigin) {
        try { ownerId = sh.names.id(first.text, origin); } catch (err) { problem(e.line, msg(err)); return; }
        owner = sh.names.names[ownerId]!;
        ownerRaw = first.text;
        ownerOrigin = origin;
      }
      ownerBad = false;
      rest = 1;
    }
    const rr = parseRecord(e, owner, rest, origin, file, sh);
    if (rr) {
      sh.records.push(rr);
      sh.ids.push(ownerId);
      // The target is the last name of these types' RDATA.
      sh.targets.push(HAS_TARGET.has(rr.type) ? sh.names.last : -1);
    }
  };
  lexEach(text, onEntry, (p) => lexProblems.push({ file, line: p.line, message: p.message }));
  if (lexProblems.length > 0) sh.problems.splice(at, 0, ...lexProblems);
}

function recordProblem(sh: Shared, file: string, line: number, message: string): undefined {
  sh.problems.push({ file, line, message });
  return undefined;
}

/** The record of entry `e` whose fields (after the owner) start at `e.tokens[from]`. */
function parseRecord(e: Entry, owner: string, from: number, origin: string, file: string, sh: Shared): RR | undefined {
  const toks = e.tokens;
  let ttl: number | undefined;
  let classSeen = false;
  let i = from;
  for (let k = 0; k < 2 && i < toks.length; k++) {
    const t = toks[i]!;
    if (t.quoted) break;
    const c0 = t.text.charCodeAt(0);
    if (ttl === undefined && c0 >= 48 && c0 <= 57 && isTtl(t.text)) {
      try { ttl = parseTtl(t.text); } catch (err) { return recordProblem(sh, file, t.line, msg(err)); }
      i++;
    } else if (!classSeen && (t.text === 'IN' || (!SUPPORTED.has(t.text) && (KNOWN_CLASSES.has(t.text.toUpperCase()) || /^CLASS\d+$/i.test(t.text))))) {
      const up = t.text.toUpperCase();
      classSeen = true;
      if (up !== 'IN') return recordProblem(sh, file, t.line, `class '${t.text}' is not supported: zones are class IN`);
      i++;
    } else break;
  }
  const typeTok = toks[i];
  if (!typeTok) return recordProblem(sh, file, e.line, 'record has no type');
  const type = typeTok.quoted ? undefined : TYPE_OF.get(typeTok.text) ?? TYPE_OF.get(typeTok.text.toUpperCase());
  if (type === undefined) {
    const up = typeTok.text.toUpperCase();
    if (OTHER_TYPES.has(up) || /^TYPE\d+$/.test(up)) return recordProblem(sh, file, typeTok.line, `record type '${typeTok.text}' is not supported (supported: ${SUPPORTED_TYPES.join(' ')})`);
    return recordProblem(sh, file, typeTok.line, `unknown RR type '${typeTok.text}'`);
  }
  const endLine = toks[toks.length - 1]!.line;
  let data: RR['data'];
  try {
    data = parseRdata(type, toks, i + 1, endLine, origin, sh.names);
  } catch (err) {
    if (err instanceof RdataError) return recordProblem(sh, file, err.line, err.message);
    throw err;
  }
  if (ttl === undefined) ttl = sh.defaultTtl ?? sh.lastTtl;
  else if (sh.defaultTtl === undefined) sh.lastTtl = ttl;
  if (ttl === undefined) {
    if (type !== 'SOA') return recordProblem(sh, file, e.line, 'no TTL specified: add $TTL at the top of the file or a TTL to this record');
    ttl = (data as RRsetOf<'SOA'>['data']).minimum;
    sh.defaultTtl = ttl;
    sh.warnings.push({ file, line: e.line, message: 'no TTL specified; using SOA MINIMUM instead' });
  }
  return { type, data, name: owner, ttl, file, line: e.line } as RR;
}

function include(e: Entry, args: Token[], file: string, origin: string | undefined, sh: Shared): void {
  const at = { file, line: e.line };
  if (args.length < 1 || args.length > 2) { sh.problems.push({ ...at, message: '$INCLUDE needs a file name and an optional origin' }); return; }
  let incOrigin = origin;
  if (args.length === 2) {
    try { incOrigin = parseName(args[1].text, origin ?? ''); } catch (err) { sh.problems.push({ ...at, message: `$INCLUDE origin: ${msg(err)}` }); return; }
  }
  const target = join(dirname(file), args[0].text.replace(/\\(.)/g, '$1'));
  const real = safeRealpath(target);
  if (sh.stack.includes(real)) {
    sh.problems.push({ ...at, message: `$INCLUDE loop: ${target} is already being read` });
    return;
  }
  if (sh.stack.length >= MAX_INCLUDE_DEPTH) {
    sh.problems.push({ ...at, message: `$INCLUDE nested deeper than ${MAX_INCLUDE_DEPTH} files` });
    return;
  }
  const text = readZoneText(target, sh, at);
  if (text === undefined) return;
  sh.stack.push(real);
  parseText(text, target, incOrigin, sh, false);
  sh.stack.pop();
}

function msg(err: unknown): string {
  if (err instanceof ValueError || err instanceof RdataError) return err.message;
  throw err;
}
