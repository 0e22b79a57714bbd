#!/usr/bin/env bash
# bench.sh (`npm run bench`): the benchmark suite, srvproxy side by side with
# the systems an operator would use instead, in one run on this machine:
#   SIP         scripts/bench-sip.sh         highest calls/s with < 0.1% failed, vs Kamailio
#   switchover  scripts/bench-switchover.sh  active member killed / frozen / held calls, vs Kamailio
#   DNS         npm run bench:dns            queries/s vs gdnsd (when scripts/bench-dns.sh exists)
#   withdrawal  scripts/bench-withdrawal.mjs seconds from an instance's SIGKILL to its absence from a peer's SRV answer
#   zone        scripts/bench-zone.sh        20k/200k-record zone load time and peak RSS vs named-checkzone; stall of a 200k reload
# Writes a markdown table to bench/results.md (not committed) and stdout, and
# SVG charts next to it (scripts/bench/charts.mjs, from the per-step figures
# the parts record in bench/steps.jsonl): sip-calls.svg (calls/s set up and
# failed calls per step, srvproxy and Kamailio) and dns-qps.svg (queries/s per
# round, srvproxy and gdnsd). Each part prints a progress line per step with
# what is left; this script one per part.
#
# Installs nothing: when sipp, dnsperf, kamailio or gdnsd is missing it says
# so and exits 1 (install them with scripts/install-interop.sh).
# Exit status: 0 when every part ran; 1 when a tool is missing or a proxy,
# peer or sipp failed to start.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

missing=()
for t in sipp dnsperf kamailio gdnsd; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench: missing ${missing[*]}." >&2
  echo "bench: install the benchmark peers with: sudo bash scripts/install-interop.sh" >&2
  exit 1
fi
export PATH="$PATH:/usr/sbin"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/srvproxy-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export BENCH_RESULTS="$WORK/results.env"
: >"$BENCH_RESULTS"
export BENCH_STEPS="$WORK/steps.jsonl"
: >"$BENCH_STEPS"
start=$SECONDS
status=0

echo "bench: building srvproxy" >&2
npx tsc -p tsconfig.json >"$WORK/tsc.out" 2>&1 || true
if [ ! -f dist/src/cli/main.js ]; then
  echo "bench: build failed:" >&2
  tail -20 "$WORK/tsc.out" >&2
  exit 1
fi

PARTS=(sip switchover withdrawal zone)
[ -f scripts/bench-dns.sh ] && PARTS=(sip switchover dns withdrawal zone)
# The parts' time limits, in seconds: what is left at most.
declare -A LIMIT=([sip]=330 [switchover]=200 [dns]=240 [withdrawal]=90 [zone]=240)
parts_done=0

# part NAME COMMAND...: runs one part with its time limit, keeps its output.
part() {
  local name=$1 limit=${LIMIT[$1]} rc p left=() left_s=0
  shift
  for p in "${PARTS[@]:$((parts_done + 1))}"; do
    left+=("$p")
    left_s=$((left_s + LIMIT[$p]))
  done
  parts_done=$((parts_done + 1))
  echo "bench: == [$parts_done/${#PARTS[@]}] $name ($*); $((SECONDS - start)) s so far; left after it: ${left[*]:-nothing} (at most $left_s s)" >&2
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$WORK/$name.out" >&2
  rc=${PIPESTATUS[0]}
  echo "$rc" >"$WORK/$name.rc"
  if [ "$rc" -ne 0 ]; then
    echo "bench: $name exited $rc" >&2
    status=1
  fi
}

part sip bash scripts/bench-sip.sh
part switchover bash scripts/bench-switchover.sh
if [ -f scripts/bench-dns.sh ]; then
  part dns npm run --silent bench:dns
fi
part withdrawal node scripts/bench-withdrawal.mjs
part zone bash scripts/bench-zone.sh

# The charts, into bench/ beside results.md (stale ones of an earlier run removed first).
mkdir -p bench
rm -f bench/sip-calls.svg bench/dns-qps.svg
cp "$BENCH_STEPS" bench/steps.jsonl
if ! node scripts/bench/charts.mjs bench/steps.jsonl bench >"$WORK/charts.out" 2>&1; then
  echo "bench: charts failed: $(cat "$WORK/charts.out")" >&2
  status=1
fi

# r KEY: a recorded figure, or "-".
r() { sed -n "s/^$1=//p" "$BENCH_RESULTS" | tail -1 | grep . || echo -; }
# ver PACKAGE COMMAND...: the Debian package version, else the first x.y[.z] the command prints.
ver() {
  local v
  v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null)
  shift
  [ -n "$v" ] || v=$({ "$@" 2>&1 || true; } | grep -m1 -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1)
  echo "${v:-?}"
}

# `srvproxy 0.1.0 (node v20.x.y)`: the version and the Node it was measured on.
v_srvproxy=$(node dist/src/cli/main.js --version 2>/dev/null | head -1)
v_kamailio=$(ver kamailio kamailio -v)
v_sipp=$(ver sip-tester sipp -v)
v_gdnsd=$(ver gdnsd gdnsd -h)
v_dnsperf=$(ver dnsperf dnsperf -h)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'; }
of() { [ "$1" = - ] && echo - || echo "$1 of $2"; }

sw_row() { # RUN LABEL GOAL
  printf '| %s: failed calls | %s | %s | goal 0 |\n' "$2" \
    "$(of "$(r "sw.srvproxy.$1.failed")" "$(r "sw.srvproxy.$1.calls")")" \
    "$(of "$(r "sw.kamailio.$1.failed")" "$(r "sw.kamailio.$1.calls")")"
  [ -n "$3" ] && printf '| %s: slowest call setup, ms | %s | %s | %s |\n' "$2" \
    "$(r "sw.srvproxy.$1.max_ms")" "$(r "sw.kamailio.$1.max_ms")" "$3"
  return 0
}

{
  echo "# srvproxy benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), $(uname -sr); load generators on the same cores."
  echo
  echo "Versions: ${v_srvproxy:-srvproxy ?}, Kamailio $v_kamailio, SIPp $v_sipp, gdnsd $v_gdnsd, dnsperf $v_dnsperf."
  echo
  echo "| figure | srvproxy | peer | ratio / goal |"
  echo "|---|---|---|---|"
  printf '| SIP calls/s, < 0.1%% failed (INVITE/200/ACK/BYE/200, Record-Route) | %s | Kamailio %s | %s (goal >= 1.0) |\n' \
    "$(r sip.srvproxy.cps)" "$(r sip.kamailio.cps)" "$(ratio "$(r sip.srvproxy.cps)" "$(r sip.kamailio.cps)")"
  printf '| SIP CPU ms per call (whole search) | %s | %s | |\n' "$(r sip.srvproxy.cpu_ms_per_call)" "$(r sip.kamailio.cpu_ms_per_call)"
  printf '| SIP CPU seconds (whole search) | %s | %s | |\n' "$(r sip.srvproxy.cpu_s)" "$(r sip.kamailio.cpu_s)"
  printf '| SIP peak RSS, MB (sum over processes) | %s | %s | |\n' "$(r sip.srvproxy.rss_mb)" "$(r sip.kamailio.rss_mb)"
  printf '| SIP peak PSS, MB (sampled each second) | %s | %s | |\n' "$(r sip.srvproxy.pss_mb)" "$(r sip.kamailio.pss_mb)"
  sw_row kill "200 calls/s, active killed" "goal <= 500"
  sw_row freeze "200 calls/s, active frozen" "goal <= 500"
  sw_row hold "100 calls/s held 3 s, active killed" ""
  if [ -f "$WORK/dns.out" ] && [ "$(r dns.srvproxy.qps)" = - ]; then
    # bench-dns.sh prints its table: "srvproxy (node vX) QPS rounds..." and "gdnsd X.Y QPS rounds...".
    awk '/^srvproxy \(node/ { print "dns.srvproxy.qps=" $4 } /^gdnsd [0-9]/ { print "dns.gdnsd.qps=" $3 }' \
      "$WORK/dns.out" >>"$BENCH_RESULTS"
  fi
  if [ -f "$WORK/dns.rc" ] && [ "$(r dns.srvproxy.qps)" != - ]; then
    printf '| DNS queries/s (dnsperf) | %s | gdnsd %s | %s (goal >= 0.5) |\n' \
      "$(r dns.srvproxy.qps)" "$(r dns.gdnsd.qps)" "$(ratio "$(r dns.srvproxy.qps)" "$(r dns.gdnsd.qps)")"
  elif [ -f "$WORK/dns.rc" ]; then
    # bench-dns.sh did not record dns.* figures: quote its ratio line.
    printf '| DNS queries/s (dnsperf) | see below | gdnsd | %s (goal >= 0.5) |\n' \
      "$(grep -im1 'ratio' "$WORK/dns.out" | tr '|' ' ' || echo -)"
  else
    echo "| DNS queries/s (dnsperf) | not run: scripts/bench-dns.sh missing | | |"
  fi
  printf '| withdrawal: SIGKILL to absence from a peer SRV answer, s (defaults; median, max of 3) | %s, %s | gdnsd defaults ~90 s (not run) | goal <= 3 |\n' \
    "$(r withdrawal.srvproxy.s)" "$(r withdrawal.srvproxy.max_s)"
  for k in 20k 200k; do
    goal=""
    [ "$k" = 200k ] && goal="goal <= 2000 ms, <= 250 MB"
    printf '| zone of %s records: check-zone wall ms, CPU s, peak RSS MB | %s, %s, %s | named-checkzone %s, %s, %s | %s |\n' "$k" \
      "$(r "zone.srvproxy.$k.ms")" "$(r "zone.srvproxy.$k.cpu_s")" "$(r "zone.srvproxy.$k.rss_mb")" \
      "$(r "zone.named.$k.ms")" "$(r "zone.named.$k.cpu_s")" "$(r "zone.named.$k.rss_mb")" "$goal"
    printf '| zone of %s records: load for serving (checks + packed snapshot) wall ms, CPU s, peak RSS MB | %s, %s, %s | | |\n' "$k" \
      "$(r "zone.load.$k.ms")" "$(r "zone.load.$k.cpu_s")" "$(r "zone.load.$k.rss_mb")"
  done
  printf '| reload of 200k records under a UDP query loop: longest gap between answers, ms (reload ms; longest gap in the 2 s before; main thread ms) | %s (%s; %s; %s) | | goal <= 50 |\n' \
    "$(r zone.reload.stall_ms)" "$(r zone.reload.ms)" "$(r zone.reload.baseline_gap_ms)" "$(r zone.reload.main_ms)"
  echo
  for c in sip-calls:'SIP calls/s and failed calls per step' dns-qps:'DNS queries/s per round'; do
    [ -f "bench/${c%%:*}.svg" ] && printf '![%s](%s.svg)\n\n' "${c#*:}" "${c%%:*}"
  done
  echo "Per-step figures: bench/steps.jsonl (the overload curve of bench:sip as part \"sip-overload\": goodput, refused and failed per offered rate; no chart of it yet)."
  echo
  echo "Suite time: $((SECONDS - start)) s. Parts that did not exit 0:" \
    "$(for p in sip switchover dns withdrawal zone; do [ -f "$WORK/$p.rc" ] && [ "$(cat "$WORK/$p.rc")" != 0 ] && printf '%s ' "$p"; done)"
  for p in sip switchover dns withdrawal zone; do
    [ -f "$WORK/$p.out" ] || continue
    echo
    echo "## $p"
    echo
    echo '```'
    # The figures, without the progress lines (HH:MM:SS ...) and blank lines.
    grep -vE '^[0-9]{2}:[0-9]{2}:[0-9]{2} |^$|^>' "$WORK/$p.out"
    echo '```'
  done
} >"$WORK/results.md"

cp "$WORK/results.md" bench/results.md
cat bench/results.md
echo >&2
echo "bench: written to bench/results.md" >&2
exit "$status"
