/**
 * zone/lexer: splits RFC 1035 master-file text into entries (one record or
 * directive each) of tokens, handling comments, quoted strings, backslash
 * escapes and multi-line parentheses. Hand-written: no npm package parses the
 * full master-file syntax with line numbers for every error, and the grammar
 * is small. Token text is kept raw (escapes undecoded): whether `\.` is a
 * literal dot or a label separator depends on where the token is used.
 * May import: nothing.
 */

export interface Token {
  /** Raw text: for a quoted token, what was between the quotes. */
  text: string;
  quoted: boolean;
  /** 1-based line the token starts on. */
  line: number;
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
  lexEach(text, (e) => entries.push({ line: e.line, blankStart: e.blankStart, tokens: e.tokens.map((t) => ({ ...t })) }), (p) => problems.push(p));
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
  const push = (text: string, quoted: boolean, at: number): void => {
    if (!open) begin(at, false);
    const k = entry.tokens.length;
    let tok = pool[k];
    if (tok === undefined) pool.push((tok = { text, quoted, line: at }));
    else {
      tok.text = text;
      tok.quoted = quoted;
      tok.line = at;
    }
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
      const out = closed ? text.slice(i + 1, j - 1) : '';
      if (!closed) {
        fail(start, 'unbalanced quotes: quoted string not closed on its line');
        i = j;
        continue;
      }
      push(out, true, start);
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
    const out = text.slice(i, j);
    if (endsBadly) {
      fail(line, 'backslash at end of line');
      j++;
    }
    push(out, false, line);
    i = j;
  }
  if (depth > 0) fail(openLine, "unbalanced parentheses: '(' not closed before end of file");
  endEntry();
}
