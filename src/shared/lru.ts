/**
 * shared/lru: the one cache — a bounded map with a time to live per entry,
 * least recently used evicted first. Bounded in entries and, optionally, in
 * a size the caller assigns each entry (bytes). The DNS forwarder keeps
 * upstream answers in it; the SIP plane's RFC 3263 resolver keeps its
 * records and results in it.
 *
 * An entry lives until its expiry (set by the caller per entry) and is
 * removed when a lookup finds it expired; when a bound is passed, the least
 * recently used entries go first (expired or not). A Map keeps insertion
 * order, so moving an entry to the end on a hit makes the first key the
 * victim: O(1) per operation, no timers, no allocation on a hit.
 *
 * Hand-written rather than the lru-cache package: both users need an
 * injected clock (fake clocks in tests), per-entry TTLs and the time an entry
 * was stored (the forwarder lowers relayed TTLs by its age), which a Map does
 * in a few lines. May import: nothing.
 */

export interface LruOptions {
  /** Most entries held. */
  maxEntries: number;
  /** Most total size held (the sum of the sizes given to set()); default: unbounded. */
  maxSize?: number;
  /** Milliseconds, monotonic or wall: only differences are used. */
  now: () => number;
}

/** One cached value, with when it was stored and when it expires (ms, the cache's clock). */
export interface LruEntry<V> {
  readonly value: V;
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly size: number;
}

export class LruCache<V> {
  private readonly map = new Map<string, LruEntry<V>>();
  private held = 0;
  private readonly maxEntries: number;
  private readonly maxSize: number;
  /** Entries dropped to stay within the bounds (not counting expiries). */
  evictions = 0;

  constructor(private readonly options: LruOptions) {
    this.maxEntries = options.maxEntries;
    this.maxSize = options.maxSize ?? Infinity;
  }

  get size(): number {
    return this.map.size;
  }

  /** The total size of the entries held. */
  get sizeHeld(): number {
    return this.held;
  }

  /** The unexpired entry for `key`, now the most recently used; an expired one is removed. */
  entry(key: string): LruEntry<V> | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (this.options.now() >= e.expiresAt) {
      this.remove(key, e);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  /** The unexpired value for `key` (see entry()). */
  get(key: string): V | undefined {
    return this.entry(key)?.value;
  }

  /**
   * Keeps `value` for `ttlMs` as the most recently used entry, replacing any
   * entry for `key`, then evicts the least recently used ones beyond the
   * bounds. A value with ttlMs <= 0, or larger than the whole cache, is not
   * kept (and an old entry for the key is dropped). True when kept.
   */
  set(key: string, value: V, ttlMs: number, size = 0): boolean {
    const old = this.map.get(key);
    if (old !== undefined) this.remove(key, old);
    if (ttlMs <= 0 || size > this.maxSize || this.maxEntries <= 0) return false;
    const now = this.options.now();
    this.map.set(key, { value, storedAt: now, expiresAt: now + ttlMs, size });
    this.held += size;
    while (this.map.size > this.maxEntries || this.held > this.maxSize) {
      const [k, e] = this.map.entries().next().value as [string, LruEntry<V>];
      this.remove(k, e);
      this.evictions++;
    }
    return true;
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (e !== undefined) this.remove(key, e);
  }

  clear(): void {
    this.map.clear();
    this.held = 0;
  }

  private remove(key: string, e: LruEntry<V>): void {
    this.map.delete(key);
    this.held -= e.size;
  }
}
