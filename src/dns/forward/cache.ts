/**
 * dns/forward/cache: the forwarder's answer cache — upstream answers by
 * (name, type, class, CD/DO) for as long as their TTL allows, in the one
 * bounded LRU (shared/lru.ts), bounded in entries and in bytes.
 *
 * An entry lives for the answer's cacheTtl (the smallest TTL of its records
 * for a positive answer; min(SOA TTL, SOA MINIMUM) for NXDOMAIN/NODATA, RFC
 * 2308), capped by the forwarder's limits. get() says how many whole seconds
 * the entry has aged so the relayed TTLs can be lowered by that much. This
 * file only sizes an answer and turns its TTL into the entry's lifetime.
 *
 * May import: shared, dns/forward.
 */
import { LruCache } from '../../shared/lru.js';
import type { UpstreamAnswer } from './message.js';

export interface CacheOptions {
  /** Most entries held. */
  maxEntries: number;
  /** Most bytes held (answer bytes plus a fixed overhead per entry). */
  maxBytes: number;
  /** Milliseconds, monotonic. */
  now: () => number;
}

/** Bookkeeping per entry beyond the answer bytes (key, offsets, objects), an estimate. */
const ENTRY_OVERHEAD = 200;

export class AnswerCache {
  private readonly lru: LruCache<UpstreamAnswer>;

  constructor(private readonly options: CacheOptions) {
    this.lru = new LruCache({ maxEntries: options.maxEntries, maxSize: options.maxBytes, now: options.now });
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.sizeHeld;
  }

  /** Entries dropped to stay within the bounds. */
  get evictions(): number {
    return this.lru.evictions;
  }

  /** The cached answer for `key` and its age in whole seconds, or undefined. */
  get(key: string): { answer: UpstreamAnswer; age: number } | undefined {
    const e = this.lru.entry(key);
    if (e === undefined) return undefined;
    return { answer: e.value, age: Math.floor((this.options.now() - e.storedAt) / 1000) };
  }

  /** Keep `answer` for its cacheTtl; answers with cacheTtl 0, or bigger than the whole cache, are not kept. */
  put(key: string, answer: UpstreamAnswer): void {
    if (answer.cacheTtl <= 0) return;
    const bytes = key.length * 2 + answer.sections.length + answer.ttlOffsets.length * 8 + ENTRY_OVERHEAD;
    this.lru.set(key, answer, answer.cacheTtl * 1000, bytes);
  }

  clear(): void {
    this.lru.clear();
  }
}
