/**
 * zone/name-index: the owner names of a zone numbered once, so that the
 * checks and the packed snapshot index records by number (arrays) instead of
 * hashing every record's name again in a map of their own. The parser numbers
 * names as it reads them (values.ts NameTable); indexNames numbers the names
 * of records that come from elsewhere.
 * May import: zone/types.
 */
import type { RR } from './types.js';

/** Names and their numbers: names[ids.get(n)] === n. */
export interface NameIndex {
  readonly names: readonly string[];
  readonly ids: ReadonlyMap<string, number>;
}

/** Records with the number of each one's owner name (ids[i] for records[i]). */
export interface NamedRecords {
  readonly records: readonly RR[];
  readonly ids: ArrayLike<number>;
  readonly index: NameIndex;
  /**
   * The number of each record's target name (the NS host, CNAME target, MX
   * exchange, SRV target or NAPTR replacement), -1 for the other types: the
   * checks then find targets without a lookup.
   */
  readonly targets?: ArrayLike<number>;
}

/** Number the owner names of `records` (in order of first appearance). */
export function indexNames(records: readonly RR[]): NamedRecords {
  const names: string[] = [];
  const map = new Map<string, number>();
  const ids = new Uint32Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const name = records[i]!.name;
    let id = map.get(name);
    if (id === undefined) {
      id = names.length;
      map.set(name, id);
      names.push(name);
    }
    ids[i] = id;
  }
  return { records, ids, index: { names, ids: map } };
}
