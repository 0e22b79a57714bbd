#!/usr/bin/env node
// gen-zone.mjs RECORDS [FILE] [ORIGIN]: writes a zone of about RECORDS records
// (stdout without FILE), the mix of test/support/big-zone.ts (the site of
// DESIGN.md §1, then blocks of A, AAAA, MX, TXT, CNAME, SRV and NAPTR under
// their own names), for the zone benchmark and for trying big zones by hand.
// Needs the build (dist/). ORIGIN defaults to example.com.
import { writeFileSync } from 'node:fs';
import { bigZoneText } from '../../dist/test/support/big-zone.js';

export const zoneText = bigZoneText;

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2]);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write('usage: gen-zone.mjs RECORDS [FILE] [ORIGIN]\n');
    process.exit(2);
  }
  const text = bigZoneText(n, process.argv[4] ?? 'example.com');
  if (process.argv[3]) writeFileSync(process.argv[3], text);
  else process.stdout.write(text);
}
