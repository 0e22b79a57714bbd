#!/usr/bin/env bash
# bench-zone.sh (`npm run bench:zone`; part "zone" of `npm run bench`): load
# time and peak RSS of 20k- and 200k-record zones, srvproxy check-zone beside
# named-checkzone, and the stall of a 200k-record reload while UDP queries
# run (scripts/bench/zone-bench.mjs). Needs named-checkzone (bind9-utils) for
# the comparison; without it srvproxy's figures are still printed.
# ZONE_BENCH_SIZES (default 20000,200000) and ZONE_BENCH_RELOAD (default
# 200000; 0: no reload run) change the sizes.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$PATH:/usr/sbin"
if [ ! -f dist/src/cli/main.js ]; then
  npx tsc -p tsconfig.json || exit 1
fi
command -v named-checkzone >/dev/null 2>&1 || echo "bench-zone: named-checkzone not found (apt-get install bind9-utils): srvproxy only" >&2
exec node scripts/bench/zone-bench.mjs
