/**
 * zone/lexer: splits RFC 1035 master-file text into entries (one record or
 * directive each) of tokens, handling comments, quoted strings, backslash
 * escapes and multi-line parentheses. Hand-written: no npm package parses the
 * full master-file syntax with line numbers for every error, and the grammar
 * is small. Token text is kept raw (escapes undecoded): whether `\.` is a
 * literal dot or a label separator depends on where the token is used.
 * May import: nothing.
 */

/**
 * One token. Its raw text (for a quoted token, what was between the quotes)
 * is cut from the file's text only when asked for: numbers, types and a
 * repeated owner are read and compared in place.
 */
export class Token {
  private cut: string | undefined = undefined;
  constructor(private src: string, private start: number, private end: number,
    public quoted: boolean,
    /** 1-based line the token starts on. */
    public line: number) {}

  /** Raw text: for a quoted token, what was between the quotes. */
  get text(): string {
    return (this.cut ??= this.src.slice(this.start, this.end));
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The character code at `k` of the text (NaN past its end). */
  code(k: number): number {
    return k < this.end - this.start ? this.src.charCodeAt(this.start + k) : NaN;
  }

  /** The text is exactly `s` (without cutting it). */
  is(s: string): boolean {
    return s.length === this.end - this.start && this.src.startsWith(s, this.start);
  }

  /** The text is `s` in any case of ASCII letters (`s` letters only). */
  isLetters(s: string): boolean {
    if (s.length !== this.end - this.start) return false;
    for (let k = 0; k < s.length; k++) if ((this.src.charCodeAt(this.start + k) | 0x20) !== (s.charCodeAt(k) | 0x20)) return false;
    return true;
  }

  /** The value of a text of one to nine decimal digits, else -1. */
  digits(): number {
    const n = this.end - this.start;
    if (n === 0 || n > 9) return -1;
    let v = 0;
    for (let k = this.start; k < this.end; k++) {
      const c = this.src.charCodeAt(k) - 48;
      if (c < 0 || c > 9) return -1;
      v = v * 10 + c;
    }
    return v;
  }

  /** This token over another stretch of text (lexEach reuses its tokens). */
  refill(src: string, start: number, end: number, quoted: boolean, line: number): void {
    this.src = src;
    this.start = start;
    this.end = end;
    this.quoted = quoted;
    this.line = line;
    this.cut = undefined;
  }

  copy(): Token {
    return new Token(this.src, this.start, this.end, this.quoted, this.line);
  }
}

export interface Entry {
  /** Line the entry starts on. */
  line: number;
  /** The entry's first line starts with a blank: the owner is omitted. */
  blankStart: boolean;
  tokens: Token[];
  /** A lexical problem was reported inside this entry: the parser skips it. */
  broken?: boolean;
}

interface LexProblem {
  line: number;
  message: string;
}

export interface LexResult {
  entries: Entry[];
  problems: LexProblem[];
}

/** Space, tab or CR (character codes: the loop reads codes, not one-character strings). */
const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 13;

/** Tokenize a whole file. Never throws; problems carry their line. */
export function lex(text: string): LexResult {
  const entries: Entry[] = [];
  const problems: LexProblem[] = [];
  lexEach(text, (e) => entries.push({ line: e.line, blankStart: e.blankStart, tokens: e.tokens.map((t) => t.copy()) }), (p) => problems.push(p));
  return { entries, problems };
}

/**
 * Tokenize a whole file, handing each entry over as soon as it ends (so a
 * large file's tokens never all live at once). The entry and its tokens are
 * the same objects from one entry to the next, refilled: `onEntry` copies
 * what must outlive its call (the token texts are strings, kept as they are).
 * Never throws.
 */
export function lexEach(text: string, onEntry: (e: Entry) => void, onProblem: (p: LexProblem) => void): void {
  let line = 1;
  let depth = 0;
  let openLine = 0;
  /** The entry being read (`open`), refilled for each entry; `pool`: every Token object made so far. */
  const entry: Entry = { line: 0, blankStart: false, tokens: [], broken: false };
  const pool: Token[] = [];
  let open = false;
  let atLineStart = true;
  let i = 0;
  const n = text.length;

  const begin = (at: number, blankStart: boolean): void => {
    open = true;
    entry.line = at;
    entry.blankStart = blankStart;
    entry.broken = false;
    // Emptied by pop, which V8 inlines (setting length calls into the runtime); the array keeps its room.
    const toks = entry.tokens;
    while (toks.length > 0) toks.pop();
  };
  /** A token of `text[start..end)`. */
  const push = (start: number, end: number, quoted: boolean, at: number): void => {
    if (!open) begin(at, false);
    const k = entry.tokens.length;
    let tok = pool[k];
    if (tok === undefined) pool.push((tok = new Token(text, start, end, quoted, at)));
    else tok.refill(text, start, end, quoted, at);
    entry.tokens.push(tok);
  };
  const fail = (at: number, message: string): void => {
    onProblem({ line: at, message });
    if (!open) begin(line, false);
    entry.broken = true;
  };
  const endEntry = (): void => {
    if (open && entry.tokens.length > 0 && !entry.broken) onEntry(entry);
    open = false;
  };

  while (i < n) {
    const c = text.charCodeAt(i);
    if (atLineStart) {
      atLineStart = false;
      if (depth === 0 && isBlank(c)) begin(line, true);
    }
    if (c === 10) {
      line++;
      i++;
      atLineStart = true;
      if (depth === 0) endEntry();
      continue;
    }
    if (isBlank(c)) { i++; continue; }
    if (c === 59) { // ';'
      while (i < n && text.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 40) { // '('
      if (depth === 0) openLine = line;
      depth++;
      i++;
      continue;
    }
    if (c === 41) { // ')'
      if (depth === 0) fail(line, "unbalanced parentheses: ')' without '('");
      else depth--;
      i++;
      continue;
    }
    if (c === 34) { // '"'
      const start = line;
      let j = i + 1;
      let closed = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 10) break;
        if (d === 92 && j + 1 < n && text.charCodeAt(j + 1) !== 10) { j += 2; continue; }
        if (d === 34) { closed = true; j++; break; }
        j++;
      }
      if (!closed) {
        fail(start, 'unbalanced quotes: quoted string not closed on its line');
        i = j;
        continue;
      }
      push(i + 1, j - 1, true, start);
      i = j;
      continue;
    }
    // An unquoted token: up to a blank, newline, ';', '(', ')' or '"'; '\' escapes the next character.
    let j = i;
    let endsBadly = false;
    while (j < n) {
      const d = text.charCodeAt(j);
      // blank, CR, newline, ';', '(', ')', '"'
      if (d === 32 || d === 9 || d === 13 || d === 10 || d === 59 || d === 40 || d === 41 || d === 34) break;
      if (d === 92) {
        if (j + 1 >= n || text.charCodeAt(j + 1) === 10) {
          endsBadly = true;
          break;
        }
        j += 2;
        continue;
      }
      j++;
    }
    const end = j;
    if (endsBadly) {
      fail(line, 'backslash at end of line');
      j++;
    }
    push(i, end, false, line);
    i = j;
  }
  if (depth > 0) fail(openLine, "unbalanced parentheses: '(' not closed before end of file");
  endEntry();
}
