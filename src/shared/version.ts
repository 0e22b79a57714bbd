/**
 * shared/version: the product version, kept in step with package.json (a test
 * checks), and the line `srvproxy --version` prints: the version and the Node
 * runtime it runs on (the single executable carries its own).
 * May import: nothing.
 */
export const VERSION = '0.1.0';

/** `srvproxy 0.1.0 (node v24.22.3)`. */
export function versionLine(): string {
  return `srvproxy ${VERSION} (node ${process.version})`;
}
