#!/usr/bin/env bash
# bench-sip.sh (`npm run bench:sip`): the highest call rate with under 0.1%
# failed calls through srvproxy and through Kamailio, in the same run and the
# same topology on loopback:
#
#   sipp UAC 127.0.0.x0 --> proxy 127.0.0.x1:25060 --> primary 127.0.0.x2:25060 (sipp UAS, -aa)
#                                                     backup  127.0.0.x3:25060 (sipp UAS, -aa)
#
# A call is INVITE/200/ACK/BYE/200 with Record-Route (the UAC's ACK and BYE
# follow the route set through the proxy). The search steps the rate up by
# SIP_STEP from SIP_START, each step SIP_STEP_SECONDS worth of calls, until a
# step is not clean, then bisects twice between the last clean rate and the
# first unclean one. A step is clean when fewer than 0.1% of its calls failed
# (created - successful) and the calls were really set up at >= 90% of the
# asked rate. Also measured over the whole search: CPU seconds and peak memory
# of each proxy's processes.
#
# Environment: SIP_PROXIES ("srvproxy kamailio"), SIP_START (500), SIP_STEP
# (500), SIP_MAX (8000), SIP_STEP_SECONDS (6), BENCH_KEEP=1 keeps the logs.
# Exit status: 0 when every proxy and sipp started, 1 otherwise.
set -uo pipefail
. "$(dirname "$0")/bench/lib.sh"

PROXIES=${SIP_PROXIES:-srvproxy kamailio}
START=${SIP_START:-500}
STEP=${SIP_STEP:-500}
MAX=${SIP_MAX:-8000}
STEP_SECONDS=${SIP_STEP_SECONDS:-6}
PORT=25060
UAC_PORT=25090

require_tools sipp kamailio node curl ss pgrep timeout
bench_init bench-sip
started_all=1

# step LABEL RATE: one sipp run at RATE; sets STEP_CLEAN (0/1) and prints a line.
step() {
  local label=$1 rate=$2 calls=$(($2 * STEP_SECONDS))
  run_uac "$label-$rate" uac-rr.xml "$PROXY_ADDR:$PORT" "$rate" "$calls" $((rate * 4)) $((STEP_SECONDS + 30)) \
    -recv_timeout 5000 -max_invite_retrans 4 -max_non_invite_retrans 4
  finish_uac
  local created failed retrans setup_rate setup_p99_ms
  created=$(uac_stat created) failed=$(uac_stat failed) retrans=$(uac_stat retrans)
  setup_rate=$(uac_stat setup_rate) setup_p99_ms=$(uac_stat setup_p99_ms)
  STEP_CLEAN=0
  if [ "$created" -ge "$calls" ] && [ $((failed * 1000)) -lt "$created" ] &&
    awk -v a="$setup_rate" -v r="$rate" 'BEGIN { exit !(a >= 0.9 * r) }'; then
    STEP_CLEAN=1
  fi
  TOTAL_CALLS=$((TOTAL_CALLS + created))
  printf '  %-9s %5s calls/s: %6s calls, %5s failed, %6s retransmissions, set up at %7s/s, p99 setup %s ms %s\n' \
    "$label" "$rate" "$created" "$failed" "$retrans" "$setup_rate" "$setup_p99_ms" \
    "$([ "$STEP_CLEAN" = 1 ] && echo clean || echo NOT-CLEAN)" >&2
  sleep 1
}

# search LABEL: sets BEST (the highest clean rate; 0 when none).
search() {
  local label=$1 rate=$START clean=0 bad=0 mid i
  while [ "$rate" -le "$MAX" ]; do
    step "$label" "$rate"
    if [ "$STEP_CLEAN" = 1 ]; then clean=$rate; rate=$((rate + STEP)); else bad=$rate; break; fi
  done
  for i in 1 2; do
    [ "$bad" -gt 0 ] || break
    mid=$(((clean + bad) / 2 / 50 * 50))
    [ "$mid" -gt "$clean" ] && [ "$mid" -lt "$bad" ] || break
    step "$label" "$mid"
    if [ "$STEP_CLEAN" = 1 ]; then clean=$mid; else bad=$mid; fi
  done
  BEST=$clean
}

bench_proxy() {
  local name=$1 base=$2 tree cpu hwm pss
  PROXY_ADDR=127.0.0.${base}1
  UAC_ADDR=127.0.0.${base}0
  local primary=127.0.0.${base}2 backup=127.0.0.${base}3
  log "$name: stand-ins $primary (primary) and $backup (backup), proxy $PROXY_ADDR:$PORT"
  start_uas "$name-primary" uas-rr.xml "$primary" "$PORT"
  local primary_pid=$UAS_PID
  start_uas "$name-backup" uas-backup.xml "$backup" "$PORT"
  local backup_pid=$UAS_PID
  if [ "$name" = kamailio ]; then
    start_kamailio "$PROXY_ADDR" "$PORT" "$primary" "$backup" "$PORT"
    sleep 2 # first OPTIONS round of the dispatcher
  else
    ensure_built
    start_srvproxy "$PROXY_ADDR" "$PORT" "$primary" "$backup" 25053 25081
    wait_srvproxy_active "$primary" 10 || log "srvproxy: /status does not show $primary active; going on"
  fi
  start_pss_sampler "$PROXY_PID" "$WORK/$name.pss"
  TOTAL_CALLS=0
  local cpu0
  cpu0=$(cpu_seconds $(proc_tree "$PROXY_PID"))
  search "$name"
  local alive=1
  if ! kill -0 "$PROXY_PID" 2>/dev/null; then
    wait "$PROXY_PID" 2>/dev/null
    log "$name exited during the benchmark with status $?: $(tail -5 "$WORK/$name"/*.log 2>/dev/null)"
    alive=0
  fi
  tree=$(proc_tree "$PROXY_PID")
  cpu=$(awk -v a="$(cpu_seconds $tree)" -v b="$cpu0" 'BEGIN { printf "%.1f", a - b }')
  hwm=$(hwm_mb $tree)
  pss=$(cat "$WORK/$name.pss")
  stop_proc "$PROXY_PID"
  stop_proc "$primary_pid"
  stop_proc "$backup_pid"
  printf 'BEST_%s=%s\nCPU_%s=%s\nHWM_%s=%s\nPSS_%s=%s\nCALLS_%s=%s\n' "$name" "$BEST" "$name" "$cpu" \
    "$name" "$hwm" "$name" "$pss" "$name" "$TOTAL_CALLS" >"$WORK/$name.vars"
  log "$name: $BEST calls/s clean; $cpu CPU s over $TOTAL_CALLS calls; peak RSS $hwm MB (sum of VmHWM), peak PSS $pss MB"
  [ "$alive" = 1 ]
}

base=14
for proxy in $PROXIES; do
  case "$proxy" in
    srvproxy) base=14 ;;
    kamailio) base=15 ;;
    *) die "unknown proxy $proxy (srvproxy, kamailio)" ;;
  esac
  # A proxy that fails to start is reported; the other one is still measured.
  if ! (trap "kill_tracked 2>/dev/null" EXIT; bench_proxy "$proxy" "$base"); then
    started_all=0
    log "$proxy: FAILED (see the log lines above)"
  fi
  [ -f "$WORK/$proxy.vars" ] && . "$WORK/$proxy.vars"
done

echo
echo "SIP calls/s with < 0.1% failed (INVITE/200/ACK/BYE/200, Record-Route, UDP, loopback, $(nproc) cores shared with sipp)"
printf '%-10s %12s %10s %12s %14s %14s\n' proxy calls/s "CPU s" "CPU ms/call" "peak RSS MB" "peak PSS MB"
for proxy in $PROXIES; do
  b="BEST_$proxy"; c="CPU_$proxy"; h="HWM_$proxy"; p="PSS_$proxy"; n="CALLS_$proxy"
  if [ -z "${!b:-}" ]; then
    printf '%-10s %12s\n' "$proxy" "failed"
    result "sip.$proxy.cps" failed
    continue
  fi
  per=$(awk -v c="${!c}" -v n="${!n}" 'BEGIN { if (n > 0) printf "%.3f", c * 1000 / n; else print "-" }')
  printf '%-10s %12s %10s %12s %14s %14s\n' "$proxy" "${!b}" "${!c}" "$per" "${!h}" "${!p}"
  result "sip.$proxy.cps" "${!b}"
  result "sip.$proxy.cpu_s" "${!c}"
  result "sip.$proxy.cpu_ms_per_call" "$per"
  result "sip.$proxy.rss_mb" "${!h}"
  result "sip.$proxy.pss_mb" "${!p}"
done
if [ -n "${BEST_srvproxy:-}" ] && [ -n "${BEST_kamailio:-}" ]; then
  ratio=$(awk -v a="$BEST_srvproxy" -v b="$BEST_kamailio" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  echo "ratio srvproxy/Kamailio: $ratio"
  result sip.ratio "$ratio"
fi

[ "$started_all" = 1 ] || exit 1
exit 0
