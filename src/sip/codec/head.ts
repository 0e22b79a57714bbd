/**
 * sip/codec/head: the byte-level rules of a message head, one set for every
 * transport (the UDP decoder and the TCP framer both call scanHead): lines
 * end with CRLF only (a bare CR or LF inside a head is refused: a downstream
 * parser that ends lines on LF would see a header srvproxy never checked), no
 * NUL outside a quoted-pair (RFC 3261 §25.1), and exactly one Content-Length
 * (`Content-Length` or compact `l`, any case, 1*DIGIT, folded or not; two of
 * them are refused: a parser that takes the last and a framer that takes the
 * first would let a body carry a second, unchecked request). One pass over
 * the bytes, no allocation. May import: nothing.
 */

/** scanHead results below zero: what is wrong with the head. */
export const HEAD_NO_CONTENT_LENGTH = -1;
export const HEAD_BAD_CONTENT_LENGTH = -2;
export const HEAD_MULTIPLE_CONTENT_LENGTH = -3;
export const HEAD_BARE_CR = -4;
export const HEAD_BARE_LF = -5;
export const HEAD_NUL = -6;

/** Largest Content-Length value read (larger ones are refused before any size limit applies). */
const MAX_CONTENT_LENGTH = 999_999_999;

/** The error text (the 400 reason and the decoder's error) for a scanHead result below HEAD_NO_CONTENT_LENGTH. */
export function headError(code: number): string {
  switch (code) {
    case HEAD_BAD_CONTENT_LENGTH:
      return 'bad Content-Length';
    case HEAD_MULTIPLE_CONTENT_LENGTH:
      return 'several Content-Length values';
    case HEAD_BARE_CR:
      return 'bare CR in the head';
    case HEAD_BARE_LF:
      return 'bare LF in the head';
    default:
      return 'NUL in the head';
  }
}

function isWs(c: number | undefined): boolean {
  return c === 32 || c === 9;
}

/** When buf[i, ...) starts a Content-Length header line (`Content-Length` or `l`, any case, then WSP* ":"): the index after the colon; else -1. */
function isContentLengthName(buf: Buffer, i: number, end: number): number {
  let j = i;
  const c0 = buf[j] | 32;
  if (c0 !== 108 /* l */ && c0 !== 99 /* c */) return -1;
  if (c0 === 99) {
    const name = 'content-length';
    if (end - j < name.length) return -1;
    for (let k = 0; k < name.length; k++) if ((buf[j + k] | 32) !== name.charCodeAt(k)) return -1;
    j += name.length;
  } else j++;
  while (j < end && isWs(buf[j])) j++;
  return j < end && buf[j] === 58 /* : */ ? j + 1 : -1;
}

/**
 * Checks the head buf[start, end) (start line and header lines, without the
 * CRLFCRLF that ends it) and reads its Content-Length: the value (>= 0),
 * HEAD_NO_CONTENT_LENGTH, or one of the errors below it.
 */
export function scanHead(buf: Buffer, start: number, end: number): number {
  let cl = HEAD_NO_CONTENT_LENGTH;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c > 13) continue;
    if (c === 13) {
      if (buf[i + 1] !== 10) return HEAD_BARE_CR;
      i++;
      // a new logical line unless folded (CRLF then SP/HT)
      const n = i + 1;
      if (n < end && !isWs(buf[n])) {
        const v = isContentLengthName(buf, n, end);
        if (v >= 0) {
          if (cl !== HEAD_NO_CONTENT_LENGTH) return HEAD_MULTIPLE_CONTENT_LENGTH;
          cl = contentLengthValue(buf, v, end);
          if (cl < 0) return cl;
        }
      }
    } else if (c === 10) return HEAD_BARE_LF;
    else if (c === 0) {
      // NUL only as a quoted-pair: an odd run of backslashes before it
      let k = i - 1;
      while (k >= start && buf[k] === 92) k--;
      if ((i - 1 - k) % 2 === 0) return HEAD_NUL;
    }
  }
  return cl;
}

/** The value of a Content-Length whose colon ends at `i`: 1*DIGIT with LWS (folding included) around it. */
function contentLengthValue(buf: Buffer, i: number, end: number): number {
  let j = i;
  const skipLws = () => {
    for (;;) {
      while (j < end && isWs(buf[j])) j++;
      if (j + 2 < end && buf[j] === 13 && buf[j + 1] === 10 && isWs(buf[j + 2])) j += 3;
      else return;
    }
  };
  skipLws();
  let v = 0;
  let digits = 0;
  while (j < end && buf[j] >= 48 && buf[j] <= 57) {
    v = v * 10 + (buf[j] - 48);
    if (v > MAX_CONTENT_LENGTH) return HEAD_BAD_CONTENT_LENGTH;
    digits++;
    j++;
  }
  if (digits === 0) return HEAD_BAD_CONTENT_LENGTH;
  skipLws();
  // the logical line must end here
  if (j < end && buf[j] !== 13) return HEAD_BAD_CONTENT_LENGTH;
  return v;
}
