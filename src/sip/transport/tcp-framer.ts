/**
 * sip/transport/tcp-framer: RFC 3261 §18.3 framing of a SIP byte stream:
 * headers up to the empty line, then exactly Content-Length bytes of body.
 * The head is checked with the rules every transport shares
 * (sip/codec/head scanHead: CRLF line ends only, no NUL, exactly one
 * Content-Length, folding allowed). Content-Length is required on streams; a
 * missing, malformed or repeated one, a bare CR or LF or a NUL in the head,
 * or a message above the size limit, is a framing error after which the
 * stream cannot be trusted. Buffering is bounded by `maxBytes`. Between
 * messages, whitespace is skipped (a single CRLF is a keepalive to ignore,
 * RFC 3261 §7.5), but a double CRLF is an RFC 5626 §3.5.1 ping, handed on as
 * such (its CRLFs may arrive in separate chunks; a ping counts as one of the
 * `max` items of a push). May import: sip/codec.
 */
import { HEAD_NO_CONTENT_LENGTH, headError, scanHead } from '../codec/head.js';

export type FrameError = { status: 400 | 513; reason: string; head?: string };

const CRLFCRLF = Buffer.from('\r\n\r\n');

export class TcpFramer {
  private buf: Buffer = Buffer.alloc(0);
  private failed = false;
  /** Between messages: how far a ping has come (0 nothing, 1 CR, 2 CRLF, 3 CRLF CR; LF then completes it). */
  private ping = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes held while waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * Feeds a chunk (may be empty, to go on after a stop). Calls `onMessage` for each whole
   * message (a view of the bytes) and `onPing` for each double CRLF between messages, at most
   * `max` of them together, and `onError` once on a framing error, after which everything is
   * ignored. True when it stopped at `max` with bytes left.
   */
  push(chunk: Buffer, onMessage: (msg: Buffer) => void, onError: (e: FrameError) => void, max = Infinity, onPing?: () => void): boolean {
    if (this.failed) return false;
    if (chunk.length > 0) this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (let n = 0; ; n++) {
      if (n >= max) return this.buf.length > 0;
      const start = this.skipBetween();
      if (start > 0) this.buf = this.buf.subarray(start);
      if (start < 0) {
        this.buf = this.buf.subarray(-start);
        onPing?.();
        continue;
      }
      if (this.buf.length === 0) return false;
      const headEnd = this.buf.indexOf(CRLFCRLF);
      if (headEnd < 0) {
        if (this.buf.length > this.maxBytes) return this.fail(onError, { status: 513, reason: 'Message Too Large' });
        return false;
      }
      const cl = scanHead(this.buf, 0, headEnd);
      if (cl < 0) {
        const head = this.buf.toString('latin1', 0, headEnd);
        const reason = cl === HEAD_NO_CONTENT_LENGTH ? 'Content-Length Required' : headError(cl);
        return this.fail(onError, { status: 400, reason: reason.charAt(0).toUpperCase() + reason.slice(1), head });
      }
      const total = headEnd + 4 + cl;
      if (total > this.maxBytes) return this.fail(onError, { status: 513, reason: 'Message Too Large', head: this.buf.toString('latin1', 0, headEnd) });
      if (this.buf.length < total) return false;
      const msg = this.buf.subarray(0, total);
      this.buf = this.buf.subarray(total);
      onMessage(msg);
      if (this.failed) return false;
    }
  }

  /**
   * Skips the whitespace before a message (CR, LF, SP, HT), following CR LF CR LF as it goes:
   * the offset of the first other byte, or minus the offset just past a completed ping.
   */
  private skipBetween(): number {
    const b = this.buf;
    let st = this.ping;
    for (let i = 0; i < b.length; i++) {
      const c = b[i];
      if (c === 13) st = st === 2 ? 3 : 1;
      else if (c === 10) {
        if (st === 3) {
          this.ping = 0;
          return -(i + 1);
        }
        st = st === 1 ? 2 : 0;
      } else if (c === 32 || c === 9) st = 0;
      else {
        this.ping = 0; // a message starts
        return i;
      }
    }
    this.ping = st;
    return b.length;
  }

  private fail(onError: (e: FrameError) => void, e: FrameError): false {
    this.failed = true;
    this.buf = Buffer.alloc(0);
    onError(e);
    return false;
  }
}
