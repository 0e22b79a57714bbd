/**
 * zone/load: zone files and folders to a ZoneSet, all or nothing. A path is
 * a file or a folder (every `*.zone` in it, sorted). A file's origin is its
 * name minus `.zone` unless it sets $ORIGIN before its first record. Either
 * every file parses and passes the checks and a complete ZoneSet comes back,
 * or ZoneError lists every problem found (file:line each). Synchronous: it
 * runs at start, and on reload in a worker thread (zone/reload.ts), never on
 * a query path. check-zone runs the checks without building snapshots.
 * May import: shared, zone/*.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ZoneError, type ZoneProblem } from '../shared/errors.js';
import { canonicalName } from '../shared/names.js';
import type { Zone, ZoneSet } from './types.js';
import { parseZoneFile } from './parser.js';
import { checkZone, normalizeRecords } from './checks.js';
import { buildZone, buildZoneSet } from './zone.js';
import { parseName, ValueError } from './values.js';

interface FileResult {
  /** The snapshot; for a check only, its origin and files. */
  zone?: Zone | Pick<Zone, 'origin' | 'files'>;
  problems: ZoneProblem[];
  warnings: ZoneProblem[];
}

/** The zone files named by `paths`: files as given, folders expanded to their sorted `*.zone` files. */
function expandZonePaths(paths: readonly string[]): { files: string[]; problems: ZoneProblem[] } {
  const files: string[] = [];
  const problems: ZoneProblem[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      problems.push({ file: p, line: 0, message: 'no such file or directory' });
      continue;
    }
    if (!isDir) { files.push(p); continue; }
    const found = readdirSync(p).filter((f) => f.endsWith('.zone')).sort().map((f) => join(p, f));
    if (found.length === 0) problems.push({ file: p, line: 0, message: 'no *.zone files in this folder' });
    files.push(...found);
  }
  return { files, problems };
}

/** The origin a file name implies (`example.com.zone` -> `example.com`), or undefined. */
export function originFromFileName(file: string): string | undefined {
  const base = basename(file);
  if (!base.endsWith('.zone') || base === '.zone') return undefined;
  try {
    return parseName(base.slice(0, -'.zone'.length) + '.', '');
  } catch (e) {
    if (e instanceof ValueError) return undefined;
    throw e;
  }
}

/** `build`: make the snapshot; without it (check-zone) the checks alone run. */
function loadFile(file: string, build: boolean): FileResult {
  const parsed = parseZoneFile(file, originFromFileName(file));
  const warnings = [...parsed.warnings];
  if (parsed.problems.length > 0) return { problems: parsed.problems, warnings };
  if (parsed.origin === undefined) {
    return { problems: [{ file, line: 0, message: 'no origin: name the file ORIGIN.zone or start it with $ORIGIN' }], warnings };
  }
  const origin = canonicalName(parsed.origin);
  const norm = normalizeRecords(parsed.records, parsed);
  warnings.push(...norm.warnings);
  const named = { ids: norm.ids, targets: norm.targets, index: parsed.index };
  const checked = checkZone(origin, file, norm.records, named);
  warnings.push(...checked.warnings);
  if (checked.errors.length > 0) return { problems: checked.errors, warnings };
  const zone = build ? buildZone(origin, norm.records, parsed.files, named) : { origin, files: parsed.files };
  return { zone, problems: [], warnings };
}

function loadAll<B extends boolean>(paths: readonly string[], build: B): { zones: (B extends true ? Zone : Pick<Zone, 'origin' | 'files'>)[]; problems: ZoneProblem[]; warnings: ZoneProblem[] } {
  type Z = B extends true ? Zone : Pick<Zone, 'origin' | 'files'>;
  const { files, problems } = expandZonePaths(paths);
  const zones: Z[] = [];
  const warnings: ZoneProblem[] = [];
  for (const f of files) {
    const r = loadFile(f, build);
    problems.push(...r.problems);
    warnings.push(...r.warnings);
    if (r.zone) zones.push(r.zone as Z);
  }
  if (problems.length === 0) {
    const byOrigin = new Map<string, string>();
    for (const z of zones) {
      const prev = byOrigin.get(z.origin);
      if (prev) problems.push({ file: z.files[0], line: 0, message: `zone ${z.origin} is also loaded from ${prev}` });
      else byOrigin.set(z.origin, z.files[0]);
    }
  }
  return { zones, problems, warnings };
}

/** Load every zone of `paths`: a complete ZoneSet, or ZoneError listing every problem. */
export function loadZones(paths: readonly string[]): ZoneSet {
  const { zones, problems } = loadAll(paths, true);
  if (problems.length > 0) throw new ZoneError(problems);
  return buildZoneSet(zones);
}

/**
 * `srvproxy check-zone FILE...`: every problem of the files (folders
 * expanded), [] when valid, and the warnings (things BIND also only warns
 * about, e.g. an SOA supplying the missing TTL), valid or not.
 */
export function checkZoneFiles(files: readonly string[]): { problems: ZoneProblem[]; warnings: ZoneProblem[] } {
  const { problems, warnings } = loadAll(files, false);
  return { problems, warnings };
}
