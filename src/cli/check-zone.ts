/**
 * cli/check-zone: `srvproxy check-zone FILE...`. Prints one `FILE:LINE: message`
 * line per problem; returns the exit code (0 valid, 1 problems).
 * May import: zone.
 */
import { checkZoneFiles } from '../zone/load.js';

export function checkZoneCommand(files: string[]): number {
  const problems = checkZoneFiles(files);
  for (const p of problems) process.stdout.write(`${p.file}:${p.line}: ${p.message}\n`);
  if (problems.length === 0) process.stdout.write(`${files.join(' ')}: OK\n`);
  return problems.length === 0 ? 0 : 1;
}
