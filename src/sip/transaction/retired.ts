/**
 * sip/transaction/retired: what is left of a transaction once it only
 * absorbs retransmissions, held as bytes rather than objects, and the one
 * timer that ends all of them.
 *
 * A transaction that has sent (or received) its final response still has to
 * stay findable for a while: RFC 6026 Accepted (timers L and M, 64*T1) for
 * INVITE after a 2xx, Completed for non-INVITE (timer J, 64*T1 over UDP;
 * timer K, T4). A record keeps only what the RFC needs in those states: the
 * key, the last response's bytes and where it went (non-INVITE server:
 * resent on a retransmitted request), or where 2xx retransmissions go
 * upstream (INVITE client in Accepted); everything else is absorbed.
 *
 * At a few thousand calls per second that is hundreds of thousands of
 * records, so a record is not a JS object (nor a key string, a response
 * string and a Remote object): records of one lifetime expire in the order
 * they were made, so each lifetime is a FIFO log of records written end to
 * end into fixed-size byte chunks (a chunk is released once its last record
 * expired; a few are kept for reuse), and one open-addressing table of
 * positions, in typed arrays, finds a record by a seeded hash of its key
 * (the key bytes are compared, so colliding keys are told apart). Nothing here is on
 * the garbage-collected heap but the chunk and table objects themselves.
 *
 *   record: at f64 | hash u32 | flags u8 | remoteLen u8 | keyLen u32 | lastLen u32 | key | last | remote
 *   remote: protocol u8 | flags u8 | port u16 | conn f64 (when set) | address (latin1)
 *   position (in the table, plus 1): lane * 2^44 + chunk seq mod 2^24 * 2^20 + offset
 *
 * Expiry: one clock timer armed for the earliest head of the lanes; a record
 * is gone exactly when its time comes (as a timer of the clock would fire).
 * May import: shared, sip/transport.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { Protocol, Remote } from '../transport/types.js';

export type RetiredKind = 'server' | 'client';
export type RetiredState = 'accepted' | 'completed';

export interface RetiredOptions {
  /** Bytes per chunk (at most 2^20; a record larger than a chunk gets a chunk of its own). Default 1 MiB. */
  chunkBytes?: number;
  /** Bits of the key hash kept (tests force collisions with few or none). Default all 32. */
  hashMask?: number;
  /** Seed of the key hash. Default: random per instance. */
  seed?: number;
}

const HEADER = 22;
const F_CLIENT = 1;
const F_COMPLETED = 2;
const F_UTF8 = 4;
const F_LAST = 8;
const F_REMOTE = 16;
const R_SECURE = 1;
const R_FLOW = 2;
const R_CONN = 4;
const PROTOCOLS: readonly Protocol[] = ['udp', 'tcp', 'tls'];
const OFF_SPAN = 2 ** 20;
const SEQ_SPAN = 2 ** 24;
const LANE_SPAN = OFF_SPAN * SEQ_SPAN;
const MAX_LANES = 256;
const SPARE_CHUNKS = 4;
const MIN_TABLE = 1024;

/**
 * FNV-1a over the key's UTF-16 code units from a seeded start, then murmur3's finalizer (the
 * table uses the low bits). The seed is random per instance: keys are chosen by the peers (the
 * branch), and keys made to collide under a known hash would make every lookup walk them all.
 */
export function keyHash(key: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  let any = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    any |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  keyWide = any > 0xff;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Set by keyHash: the key has a code unit above 0xff (it is stored as UTF-8, not latin1). */
let keyWide = false;

/** The records of one lifetime: a FIFO of records written end to end over a list of chunks. */
interface Lane {
  readonly no: number;
  readonly ms: number;
  /** chunks[0] holds the oldest record (at headOff); the last one is written at tailOff. */
  chunks: Buffer[];
  /** Bytes written in each chunk (parallel to chunks). */
  ends: number[];
  /** Sequence number (mod 2^24) of chunks[0]. */
  seq0: number;
  headOff: number;
  tailOff: number;
  count: number;
}

export class RetiredRecords {
  private readonly chunkBytes: number;
  private readonly seed: number;
  private readonly hashMask: number;
  private readonly lanes: Lane[] = [];
  private readonly laneByMs = new Map<number, Lane>();
  private readonly spare: Buffer[] = [];
  /** Open addressing, linear probing: position + 1 of a record (0: empty), and its key hash. */
  private slots = new Float64Array(MIN_TABLE);
  private hashes = new Uint32Array(MIN_TABLE);
  private mask = MIN_TABLE - 1;
  private total = 0;
  private servers = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private readonly onTimer = (): void => this.run();
  /** Where find() left the record it found (valid until the next add or expiry). */
  private foundChunk: Buffer = Buffer.alloc(0);
  private foundOff = 0;

  constructor(
    private readonly clock: Clock,
    opts: RetiredOptions = {},
  ) {
    this.chunkBytes = Math.min(opts.chunkBytes ?? OFF_SPAN, OFF_SPAN);
    this.seed = opts.seed ?? randomBytes(4).readUInt32LE(0);
    this.hashMask = opts.hashMask ?? 0xffffffff;
  }

  /** Records held. */
  get size(): number {
    return this.total;
  }

  /** Records held of one kind. */
  count(kind: RetiredKind): number {
    return kind === 'server' ? this.servers : this.total - this.servers;
  }

  /** Bytes of chunks held (records, the unused rest of the last chunk of each lifetime, spares) and of the table. */
  get bytes(): number {
    let n = this.slots.byteLength + this.hashes.byteLength;
    for (const l of this.lanes) for (const c of l.chunks) n += c.length;
    for (const c of this.spare) n += c.length;
    return n;
  }

  /**
   * Holds a record for `lifetimeMs` (> 0). The caller makes sure no record of the same kind and
   * key is held (a key with a record never starts a new transaction). `last`: the final response
   * resent on a retransmitted request, to `remote`; without `last`, `remote` is where 2xx
   * retransmissions go upstream.
   */
  add(kind: RetiredKind, key: string, state: RetiredState, lifetimeMs: number, last?: Buffer, remote?: Remote): void {
    const at = this.clock.now() + lifetimeMs;
    // one pass over the key (a concatenation: each character read walks it), for the hash and the width
    const h = (keyHash(key, this.seed) & this.hashMask) >>> 0;
    const latin1 = !keyWide;
    const keyLen = latin1 ? key.length : Buffer.byteLength(key, 'utf8');
    const lastLen = last ? last.length : 0;
    const remoteLen = remote ? 4 + (remote.conn !== undefined ? 8 : 0) + Math.min(remote.address.length, 243) : 0;
    const size = HEADER + keyLen + lastLen + remoteLen;
    const lane = this.laneFor(lifetimeMs);
    const pos = this.reserve(lane, size);
    const buf = lane.chunks[lane.chunks.length - 1]!;
    const off = lane.tailOff;
    lane.tailOff += size;
    lane.ends[lane.ends.length - 1] = lane.tailOff;
    let flags = (kind === 'client' ? F_CLIENT : 0) | (state === 'completed' ? F_COMPLETED : 0);
    if (!latin1) flags |= F_UTF8;
    if (last) flags |= F_LAST;
    if (remote) flags |= F_REMOTE;
    buf.writeDoubleLE(at, off);
    buf.writeUInt32LE(h, off + 8);
    buf[off + 12] = flags;
    buf[off + 13] = remoteLen;
    buf.writeUInt32LE(keyLen, off + 14);
    buf.writeUInt32LE(lastLen, off + 18);
    let p = off + HEADER;
    buf.write(key, p, keyLen, latin1 ? 'latin1' : 'utf8');
    p += keyLen;
    if (last) {
      last.copy(buf, p);
      p += lastLen;
    }
    if (remote) writeRemote(buf, p, remote, remoteLen);
    lane.count++;
    this.total++;
    if (kind === 'server') this.servers++;
    this.insert(pos + 1, h);
    if (at < this.timerAt) this.arm(at);
  }

  /** True when a record of this kind and key is held. */
  has(kind: RetiredKind, key: string): boolean {
    return this.find(kind, key);
  }

  /**
   * Looks a record up; when found, stateFound/lastFound/remoteFound read it (until the next
   * add or expiry).
   */
  find(kind: RetiredKind, key: string): boolean {
    if (this.total === 0) return false;
    const h = (keyHash(key, this.seed) & this.hashMask) >>> 0;
    const want = kind === 'client' ? F_CLIENT : 0;
    const slots = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v === 0) return false;
      if (this.hashes[i] !== h) continue;
      const pos = v - 1;
      const buf = this.chunkAt(pos);
      const off = pos % OFF_SPAN;
      if ((buf[off + 12]! & F_CLIENT) !== want) continue;
      if (!keyEquals(buf, off, key)) continue;
      this.foundChunk = buf;
      this.foundOff = off;
      return true;
    }
  }

  /** The state of the record find() found. */
  stateFound(): RetiredState {
    return this.foundChunk[this.foundOff + 12]! & F_COMPLETED ? 'completed' : 'accepted';
  }

  /** A copy of the response the record find() found resends, if any. */
  lastFound(): Buffer | undefined {
    const buf = this.foundChunk;
    const off = this.foundOff;
    if (!(buf[off + 12]! & F_LAST)) return undefined;
    const start = off + HEADER + buf.readUInt32LE(off + 14);
    return Buffer.from(buf.subarray(start, start + buf.readUInt32LE(off + 18)));
  }

  /** Where the record find() found sends (its response, or 2xx retransmissions upstream), if anywhere. */
  remoteFound(): Remote | undefined {
    const buf = this.foundChunk;
    const off = this.foundOff;
    if (!(buf[off + 12]! & F_REMOTE)) return undefined;
    return readRemote(buf, off + HEADER + buf.readUInt32LE(off + 14) + buf.readUInt32LE(off + 18), buf[off + 13]!);
  }

  /** Forgets every record (shutdown) and the timer. */
  clear(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    for (const l of this.lanes) {
      l.chunks = [];
      l.ends = [];
      l.headOff = 0;
      l.tailOff = 0;
      l.count = 0;
    }
    this.spare.length = 0;
    this.slots = new Float64Array(MIN_TABLE);
    this.hashes = new Uint32Array(MIN_TABLE);
    this.mask = MIN_TABLE - 1;
    this.total = 0;
    this.servers = 0;
    this.foundChunk = Buffer.alloc(0);
  }

  // ---- lanes and chunks ----

  private laneFor(ms: number): Lane {
    let lane = this.laneByMs.get(ms);
    if (lane) return lane;
    if (this.lanes.length >= MAX_LANES) throw new Error('too many record lifetimes');
    lane = { no: this.lanes.length, ms, chunks: [], ends: [], seq0: 0, headOff: 0, tailOff: 0, count: 0 };
    this.lanes.push(lane);
    this.laneByMs.set(ms, lane);
    return lane;
  }

  /** Makes room for `size` bytes at the lane's tail; returns the position they will have. */
  private reserve(lane: Lane, size: number): number {
    let n = lane.chunks.length;
    if (lane.count === 0 && n > 0 && size > lane.chunks[n - 1]!.length) {
      // empty, and its kept chunk is too small for this record: start on a new one
      this.release(lane.chunks.pop()!);
      lane.ends.pop();
      n = 0;
    }
    if (n === 0 || lane.tailOff + size > lane.chunks[n - 1]!.length) {
      if (n === 0) {
        lane.seq0 = (lane.seq0 + 1) % SEQ_SPAN;
        lane.headOff = 0;
      }
      lane.chunks.push(size > this.chunkBytes ? Buffer.allocUnsafeSlow(size) : (this.spare.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes)));
      lane.ends.push(0);
      lane.tailOff = 0;
    }
    const seq = (lane.seq0 + lane.chunks.length - 1) % SEQ_SPAN;
    return lane.no * LANE_SPAN + seq * OFF_SPAN + lane.tailOff;
  }

  private chunkAt(pos: number): Buffer {
    const laneNo = Math.floor(pos / LANE_SPAN);
    const lane = this.lanes[laneNo]!;
    const seq = Math.floor((pos - laneNo * LANE_SPAN) / OFF_SPAN);
    return lane.chunks[(seq - lane.seq0 + SEQ_SPAN) % SEQ_SPAN]!;
  }

  /** Drops the lane's oldest record. */
  private dropHead(lane: Lane): void {
    const buf = lane.chunks[0]!;
    const off = lane.headOff;
    const pos = lane.no * LANE_SPAN + lane.seq0 * OFF_SPAN + off;
    if (!(buf[off + 12]! & F_CLIENT)) this.servers--;
    this.total--;
    lane.count--;
    this.remove(pos + 1, buf.readUInt32LE(off + 8));
    lane.headOff = off + HEADER + buf.readUInt32LE(off + 14) + buf.readUInt32LE(off + 18) + buf[off + 13]!;
    if (lane.count === 0) {
      // empty: keep the last chunk and write from its start again
      for (let i = 0; i < lane.chunks.length - 1; i++) this.release(lane.chunks[i]!);
      lane.chunks = [lane.chunks[lane.chunks.length - 1]!];
      lane.seq0 = (lane.seq0 + lane.ends.length - 1) % SEQ_SPAN;
      lane.ends = [0];
      lane.headOff = 0;
      lane.tailOff = 0;
      return;
    }
    while (lane.headOff >= lane.ends[0]! && lane.chunks.length > 1) {
      this.release(lane.chunks.shift()!);
      lane.ends.shift();
      lane.seq0 = (lane.seq0 + 1) % SEQ_SPAN;
      lane.headOff = 0;
    }
  }

  private release(chunk: Buffer): void {
    if (chunk.length === this.chunkBytes && this.spare.length < SPARE_CHUNKS) this.spare.push(chunk);
  }

  // ---- the table ----

  private insert(v: number, h: number): void {
    if ((this.total) * 2 > this.slots.length) this.resize(this.slots.length * 2);
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = v;
    this.hashes[i] = h;
  }

  /** Removes entry `v` (backward-shift deletion: no tombstones). */
  private remove(v: number, h: number): void {
    const slots = this.slots;
    const hashes = this.hashes;
    const mask = this.mask;
    let i = h & mask;
    while (slots[i] !== v) {
      if (slots[i] === 0) return;
      i = (i + 1) & mask;
    }
    for (let j = (i + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = hashes[j]! & mask;
      // entry j may move to the hole at i when its home is not in (i, j] (cyclically)
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        slots[i] = slots[j]!;
        hashes[i] = hashes[j]!;
        i = j;
      }
    }
    slots[i] = 0;
    if (this.slots.length > MIN_TABLE && this.total * 8 < this.slots.length) this.resize(this.slots.length / 2);
  }

  private resize(n: number): void {
    const oldSlots = this.slots;
    const oldHashes = this.hashes;
    this.slots = new Float64Array(n);
    this.hashes = new Uint32Array(n);
    this.mask = n - 1;
    for (let k = 0; k < oldSlots.length; k++) {
      const v = oldSlots[k]!;
      if (v === 0) continue;
      const h = oldHashes[k]!;
      let i = h & this.mask;
      while (this.slots[i] !== 0) i = (i + 1) & this.mask;
      this.slots[i] = v;
      this.hashes[i] = h;
    }
  }

  // ---- expiry ----

  private arm(at: number): void {
    this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(this.onTimer, Math.max(0, at - this.clock.now()));
  }

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const lane of this.lanes) {
      while (lane.count > 0) {
        const at = lane.chunks[0]!.readDoubleLE(lane.headOff);
        if (at > now) {
          if (at < next) next = at;
          break;
        }
        this.dropHead(lane);
      }
    }
    if (next < Infinity) this.arm(next);
  }
}

function keyEquals(buf: Buffer, off: number, key: string): boolean {
  const len = buf.readUInt32LE(off + 14);
  const p = off + HEADER;
  if (buf[off + 12]! & F_UTF8) return buf.toString('utf8', p, p + len) === key;
  if (len !== key.length) return false;
  for (let i = 0; i < len; i++) if (buf[p + i] !== key.charCodeAt(i)) return false;
  return true;
}

function writeRemote(buf: Buffer, p: number, r: Remote, len: number): void {
  buf[p] = PROTOCOLS.indexOf(r.protocol);
  buf[p + 1] = (r.secure ? R_SECURE : 0) | (r.flow ? R_FLOW : 0) | (r.conn !== undefined ? R_CONN : 0);
  buf.writeUInt16LE(r.port & 0xffff, p + 2);
  let q = p + 4;
  if (r.conn !== undefined) {
    buf.writeDoubleLE(r.conn, q);
    q += 8;
  }
  buf.write(r.address, q, p + len - q, 'latin1');
}

function readRemote(buf: Buffer, p: number, len: number): Remote {
  const flags = buf[p + 1]!;
  let q = p + 4;
  const r: Remote = { protocol: PROTOCOLS[buf[p]!] ?? 'udp', address: '', port: buf.readUInt16LE(p + 2) };
  if (flags & R_CONN) {
    r.conn = buf.readDoubleLE(q);
    q += 8;
  }
  r.address = buf.toString('latin1', q, p + len);
  if (flags & R_SECURE) r.secure = true;
  if (flags & R_FLOW) r.flow = true;
  return r;
}
