/**
 * cli/check-zone: `srvproxy check-zone FILE...`. Prints one `FILE:LINE: message`
 * line per problem and one `FILE:LINE: warning: message` line per warning
 * (things named-checkzone also only warns about); returns the exit code
 * (0 valid, warnings or not; 1 problems).
 * May import: zone.
 */
import { checkZoneFiles } from '../zone/load.js';

export function checkZoneCommand(files: string[]): number {
  const { problems, warnings } = checkZoneFiles(files);
  for (const w of warnings) process.stdout.write(`${w.file}:${w.line}: warning: ${w.message}\n`);
  for (const p of problems) process.stdout.write(`${p.file}:${p.line}: ${p.message}\n`);
  if (problems.length === 0) process.stdout.write(`${files.join(' ')}: OK\n`);
  return problems.length === 0 ? 0 : 1;
}
