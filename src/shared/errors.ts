/**
 * shared/errors: error classes with stable codes. Every error that reaches an
 * operator carries a `code` from the table in README.md ("Error and event codes").
 * May import: nothing.
 */

export class SrvError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'SrvError';
  }
}

/** A bad flag or config key: the CLI prints `message` on one line and exits 2. */
export class ConfigError extends SrvError {
  constructor(message: string) {
    super('SRV_ERR_CONFIG', message);
    this.name = 'ConfigError';
  }
}

/** One problem found in a zone file, with the file and line it was found at. */
export interface ZoneProblem {
  file: string;
  line: number;
  message: string;
}

/** A zone set that failed to load; `problems` lists every error found, file:line each. */
export class ZoneError extends SrvError {
  readonly problems: readonly ZoneProblem[];
  constructor(problems: readonly ZoneProblem[]) {
    super('SRV_ERR_ZONE', problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
    this.problems = problems;
    this.name = 'ZoneError';
  }
}

/** The site cannot be built from zone + flags (e.g. --self is not a pool target). */
export class SiteError extends SrvError {
  constructor(message: string) {
    super('SRV_ERR_SITE', message);
    this.name = 'SiteError';
  }
}
