#!/usr/bin/env bash
# scripts/bench/profile-sip.sh: a CPU profile of srvproxy under sipp load.
# Starts the bench-sip.sh topology for srvproxy only (sipp UAC 127.0.0.140 ->
# srvproxy 127.0.0.141 -> sipp stand-ins .142/.143), with node --cpu-prof,
# runs one step of calls (INVITE/200/ACK/BYE/200, Record-Route) at RATE for
# SECONDS, stops srvproxy with SIGTERM so that node writes the profile, and
# prints its summary (cpuprofile-top.mjs).
#
# UAC_SCENARIO names another UAC scenario of scripts/bench/sipp (e.g.
# uac-rr-overload.xml, which acknowledges a 503 from overload control).
# PROFILE=0 runs the same step without the profiler and prints only the
# CPU and memory figures.
# Usage: bash scripts/bench/profile-sip.sh [RATE=1500] [SECONDS=10] [OUT_DIR=${TMPDIR:-/tmp}/srvproxy-profiles]
# Exit status: 0 when a profile was written and summarised; 1 otherwise.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

RATE=${1:-1500}
SECS=${2:-10}
OUT=${3:-${TMPDIR:-/tmp}/srvproxy-profiles}
PORT=25060
UAC_PORT=25090

require_tools sipp node curl ss pgrep timeout
bench_init profile-sip
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ensure_built

start_uas primary uas-rr.xml 127.0.0.142 "$PORT"
start_uas backup uas-backup.xml 127.0.0.143 "$PORT"
# PROFILE=0: the same run without the profiler (CPU and memory figures only)
[ "${PROFILE:-1}" = 0 ] && prof_args="" || prof_args="--cpu-prof --cpu-prof-dir=$WORK/prof"
SRVPROXY_NODE_ARGS="$prof_args ${SRVPROXY_NODE_ARGS:-}" \
  start_srvproxy 127.0.0.141 "$PORT" 127.0.0.142 127.0.0.143 25053 25081
wait_srvproxy_active 127.0.0.142 10 || log "srvproxy: /status does not show the primary active; going on"
sleep 1

UAC_ADDR=127.0.0.140
cpu0=$(cpu_seconds "$PROXY_PID")
run_uac "uac-$RATE" "${UAC_SCENARIO:-uac-rr.xml}" "127.0.0.141:$PORT" "$RATE" $((RATE * SECS)) $((RATE * 4)) $((SECS + 30)) \
  -recv_timeout 5000 -max_invite_retrans 4 -max_non_invite_retrans 4
finish_uac
cpu1=$(cpu_seconds "$PROXY_PID")
log "step: $UAC_STATS"
log "srvproxy CPU during the step: $(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }') s, peak RSS $(hwm_mb "$PROXY_PID") MB"

# memory right after the step (completed transactions are still held for up to 64*T1)
curl -fsS -m 2 "$SRVPROXY_HTTP/metrics" 2>/dev/null |
  grep -E '^srvproxy_(process_)?(nodejs_heap_size_(used|total)_bytes|nodejs_external_memory_bytes|process_resident_memory_bytes|sip_transactions[a-z_]*) ' |
  awk '{ v = $2; if ($1 ~ /bytes/) v = sprintf("%.1f MB", $2 / 1048576); print "  " $1 " " v }' >&2

if [ -n "${HEAP_SNAPSHOT:-}" ]; then # a heap snapshot right after the step (node --heapsnapshot-signal=SIGUSR2)
  kill -USR2 "$PROXY_PID"; sleep 8; cp "$WORK"/srvproxy/*.heapsnapshot "$HEAP_SNAPSHOT" 2>/dev/null || cp ./*.heapsnapshot "$HEAP_SNAPSHOT" 2>/dev/null
fi
kill -TERM "$PROXY_PID" 2>/dev/null
for ((i = 0; i < 300; i++)); do
  kill -0 "$PROXY_PID" 2>/dev/null || break
  sleep 0.1
done
wait "$PROXY_PID" 2>/dev/null
[ "${PROFILE:-1}" = 0 ] && exit 0
prof=$(ls -t "$WORK"/prof/*.cpuprofile 2>/dev/null | head -1)
[ -n "$prof" ] || die "no profile written (srvproxy did not exit cleanly?)"
dest="$OUT/srvproxy-$RATE-$(date +%Y%m%d-%H%M%S).cpuprofile"
cp "$prof" "$dest"
log "profile: $dest"
node "$BENCH_LIB_DIR/cpuprofile-top.mjs" "$dest" "${TOP:-30}"
