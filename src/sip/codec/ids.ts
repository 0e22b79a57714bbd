/**
 * sip/codec/ids: branch parameters, tags and Call-IDs from crypto.randomBytes
 * (never Math.random: collisions there mean crossed transactions). Random
 * bytes are drawn in blocks so one id costs a slice, not a syscall.
 * May import: nothing (node:crypto only).
 */
import { randomBytes } from 'node:crypto';

/** RFC 3261 §8.1.1.7 magic cookie. */
export const MAGIC_COOKIE = 'z9hG4bK';

const BLOCK = 4096;
let pool = randomBytes(BLOCK);
let offset = 0;

/** `n` random bytes encoded base64url (n*4/3 characters). */
function randomToken(n = 12): string {
  if (offset + n > BLOCK) {
    pool = randomBytes(BLOCK);
    offset = 0;
  }
  const s = pool.toString('base64url', offset, offset + n);
  offset += n;
  return s;
}

/** A new branch: magic cookie + 96 random bits, plus `.suffix` when given (loop detection hash). */
export function newBranch(suffix?: string): string {
  return suffix ? `${MAGIC_COOKIE}${randomToken(12)}.${suffix}` : MAGIC_COOKIE + randomToken(12);
}

export function newTag(): string {
  return randomToken(9);
}

export function newCallId(): string {
  return randomToken(15);
}

/**
 * 32-bit FNV-1a of a string, as an unsigned number (a cheap, stable hash; not for secrecy);
 * `h`: a hash to go on from (several strings hashed as one).
 */
export function fnv1a32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** fnv1a32 as 8 hex digits. */
export function fnv1a(s: string): string {
  return hex8(fnv1a32(s));
}

export function hex8(h: number): string {
  return h.toString(16).padStart(8, '0');
}
