/**
 * dns/cache: the forwarder's answer cache — upstream answers by (name, type,
 * class, CD/DO) for as long as their TTL allows, bounded in entries and in
 * bytes, least recently used evicted first.
 *
 * An entry lives for the answer's cacheTtl (the smallest TTL of its records
 * for a positive answer; min(SOA TTL, SOA MINIMUM) for NXDOMAIN/NODATA, RFC
 * 2308), capped by the forwarder's limits. get() says how many whole seconds
 * the entry has aged so the relayed TTLs can be lowered by that much; an
 * expired entry is removed when it is found. A Map keeps insertion order, so
 * moving an entry to the end on a hit makes its first key the LRU victim.
 *
 * May import: shared.
 */
import type { UpstreamAnswer } from './message.js';

export interface CacheOptions {
  /** Most entries held. */
  maxEntries: number;
  /** Most bytes held (answer bytes plus a fixed overhead per entry). */
  maxBytes: number;
  /** Milliseconds, monotonic. */
  now: () => number;
}

interface Entry {
  answer: UpstreamAnswer;
  storedAt: number;
  expiresAt: number;
  bytes: number;
}

/** Bookkeeping per entry beyond the answer bytes (key, offsets, objects), an estimate. */
const ENTRY_OVERHEAD = 200;

export class AnswerCache {
  private readonly map = new Map<string, Entry>();
  private bytesHeld = 0;
  evictions = 0;

  constructor(private readonly options: CacheOptions) {}

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** The cached answer for `key` and its age in whole seconds, or undefined. */
  get(key: string): { answer: UpstreamAnswer; age: number } | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    const now = this.options.now();
    if (now >= e.expiresAt) {
      this.remove(key, e);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return { answer: e.answer, age: Math.floor((now - e.storedAt) / 1000) };
  }

  /** Keep `answer` for its cacheTtl; answers with cacheTtl 0, or bigger than the whole cache, are not kept. */
  put(key: string, answer: UpstreamAnswer): void {
    if (answer.cacheTtl <= 0) return;
    const bytes = key.length * 2 + answer.sections.length + answer.ttlOffsets.length * 8 + ENTRY_OVERHEAD;
    if (bytes > this.options.maxBytes || this.options.maxEntries <= 0) return;
    const old = this.map.get(key);
    if (old) this.remove(key, old);
    const now = this.options.now();
    this.map.set(key, { answer, storedAt: now, expiresAt: now + answer.cacheTtl * 1000, bytes });
    this.bytesHeld += bytes;
    while (this.map.size > this.options.maxEntries || this.bytesHeld > this.options.maxBytes) {
      const [k, e] = this.map.entries().next().value as [string, Entry];
      this.remove(k, e);
      this.evictions++;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytesHeld = 0;
  }

  private remove(key: string, e: Entry): void {
    this.map.delete(key);
    this.bytesHeld -= e.bytes;
  }
}
