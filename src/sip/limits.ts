/**
 * sip/limits: the line-length limit, checked by the transports on the raw
 * bytes before a message is decoded (so it holds whatever parser the codec
 * uses): a start line or header line over MAX_LINE_BYTES rejects the
 * message; it is answered 400 when the head, without its over-long lines,
 * is an answerable request. May import: sip/codec.
 */
import { answerable, decode, skipLeadingWhitespace, type SipMessage } from './codec.js';

/** Longest start line or header line accepted (bytes; a folded header counts per physical line). */
export const MAX_LINE_BYTES = 8192;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:/i;

export interface LineLimitError {
  error: string;
  /** The request as far as it can be answered (400), when it can be. */
  msg?: SipMessage;
}

/** Undefined when every line of the head is within the limit (or there is no complete head: the decoder's business). */
export function checkLineLength(buf: Buffer): LineLimitError | undefined {
  const start = skipLeadingWhitespace(buf);
  const headEnd = buf.indexOf(CRLFCRLF, start);
  const end = headEnd < 0 ? buf.length : headEnd;
  let i = start;
  let over = false;
  while (i < end) {
    let j = buf.indexOf(10, i);
    if (j < 0 || j > end) j = end;
    if (j - i > MAX_LINE_BYTES) {
      over = true;
      break;
    }
    i = j + 1;
  }
  if (!over) return undefined;
  const error = 'header line too long';
  if (headEnd < 0) return { error };
  // the head without its long lines (and without Content-Length: the body is not needed for a 400)
  const kept = buf
    .toString('latin1', start, headEnd)
    .split('\n')
    .filter((l) => l.length <= MAX_LINE_BYTES && !CONTENT_LENGTH.test(l));
  const r = decode(Buffer.from(kept.join('\n') + '\r\n\r\n', 'latin1'));
  const msg = r.ok ? r.msg : r.msg;
  if (!msg || !msg.method || msg.method === 'ACK' || !answerable(msg)) return { error };
  return { error, msg };
}
