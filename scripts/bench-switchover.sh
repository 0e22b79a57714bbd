#!/usr/bin/env bash
# bench-switchover.sh: calls through a proxy while the active member of the
# HA pair dies, srvproxy and Kamailio in the same run and the same topology:
#
#   sipp UAC 127.0.0.x0 --> proxy 127.0.0.x1:25060 --> primary 127.0.0.x2:25060 (sipp UAS uas-rr.xml, -aa)
#                                                     backup  127.0.0.x3:25060 (sipp UAS uas-backup.xml, -aa)
#
#   kill    200 calls/s, the primary SIGKILLed SW_AT seconds into the run
#   freeze  200 calls/s, the primary SIGSTOPped (no answer, no ICMP) instead
#   hold    100 calls/s, each call held 3 s, the primary SIGKILLed: the BYEs of
#           calls set up on the primary must reach the backup, which answers a
#           BYE for a dialog it did not create (as a real backup sharing dialog
#           state with its primary would)
#
# Reported per run: calls, failed calls (created - successful), the slowest
# call setup (INVITE to 200, from sipp's -trace_rtt) and how many setups took
# over 500 ms.
#
# Both stand-ins answer OPTIONS with 200 (-aa). Kamailio's dispatcher
# (algorithm 8) then sends to the higher-priority member while it answers,
# and srvproxy stays on the primary while it answers (check mode): the same
# starting point for both, and neither is told of the death by a 503.
#
# Kamailio is tuned as an operator would for a fast switchover: OPTIONS
# every 1 s, fr_timer 2 s, failure_route with ds_next_dst (scripts/bench/kamailio.cfg.in).
#
# Environment: SW_PROXIES ("srvproxy kamailio"), SW_RUNS ("kill freeze hold"),
# SW_CALLS (3000 at 200/s), SW_HOLD_CALLS (1500 at 100/s), SW_AT (5 s),
# BENCH_KEEP=1 keeps the logs. Exit 1 when a proxy or sipp failed to start.
set -uo pipefail
. "$(dirname "$0")/bench/lib.sh"

PROXIES=${SW_PROXIES:-srvproxy kamailio}
RUNS=${SW_RUNS:-kill freeze hold}
CALLS=${SW_CALLS:-3000}
HOLD_CALLS=${SW_HOLD_CALLS:-1500}
AT=${SW_AT:-5}
PORT=25060
UAC_PORT=25090

require_tools sipp kamailio node curl ss pgrep timeout
bench_init bench-switchover
started_all=1

# one_run PROXY BASE RUN: a fresh topology, one UAC run, the primary killed or
# frozen AT seconds in. Writes "RUN calls failed max_ms over500" to $WORK/PROXY.rows.
one_run() {
  local name=$1 base=$2 run=$3 primary=127.0.0.${base}2 backup=127.0.0.${base}3 primary_pid backup_pid
  PROXY_ADDR=127.0.0.${base}1
  UAC_ADDR=127.0.0.${base}0
  start_uas "$name-$run-primary" uas-rr.xml "$primary" "$PORT"
  primary_pid=$UAS_PID
  start_uas "$name-$run-backup" uas-backup.xml "$backup" "$PORT"
  backup_pid=$UAS_PID
  if [ "$name" = kamailio ]; then
    rm -rf "$WORK/kamailio"
    start_kamailio "$PROXY_ADDR" "$PORT" "$primary" "$backup" "$PORT"
    sleep 2 # first OPTIONS round of the dispatcher
  else
    ensure_built
    rm -rf "$WORK/srvproxy"
    start_srvproxy "$PROXY_ADDR" "$PORT" "$primary" "$backup" 25053 25081
    wait_srvproxy_active "$primary" 10 || log "srvproxy: /status does not show $primary active; going on"
  fi

  local scen=uac-rr.xml rate=200 calls=$CALLS extra=()
  if [ "$run" = hold ]; then
    scen=uac-rr-hold.xml rate=100 calls=$HOLD_CALLS extra=(-d 3000)
  fi
  run_uac "$name-$run-uac" "$scen" "$PROXY_ADDR:$PORT" "$rate" "$calls" 5000 $((calls / rate + 60)) \
    -recv_timeout 20000 "${extra[@]}"
  sleep "$AT"
  if [ "$run" = freeze ]; then
    log "$name/$run: SIGSTOP primary $primary"
    kill -STOP "$primary_pid"
  else
    log "$name/$run: SIGKILL primary $primary"
    kill -KILL "$primary_pid"
  fi
  finish_uac
  if [ "$name" = srvproxy ]; then
    curl -fsS -m 1 "$SRVPROXY_HTTP/status" >"$WORK/$name-$run-status.json" 2>/dev/null || true
  fi
  local alive=1 rc
  if ! kill -0 "$PROXY_PID" 2>/dev/null; then
    wait "$PROXY_PID" 2>/dev/null
    rc=$?
    log "$name exited during the $run run with status $rc$([ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))")"
    alive=0
  fi
  stop_proc "$PROXY_PID"
  cp -r "$WORK/$name" "$WORK/$name-$run-proxy" 2>/dev/null
  kill -CONT "$primary_pid" 2>/dev/null
  stop_proc "$primary_pid"
  stop_proc "$backup_pid"
  local created failed max over
  created=$(uac_stat created) failed=$(uac_stat failed) max=$(uac_stat setup_max_ms) over=$(uac_stat setup_over_500ms)
  log "$name/$run: $created calls, $failed failed, slowest setup $max ms, $over setups over 500 ms"
  echo "$run $created $failed $max $over" >>"$WORK/$name.rows"
  [ "$alive" = 1 ]
}

base=14
runs_total=$(($(wc -w <<<"$PROXIES") * $(wc -w <<<"$RUNS")))
runs_done=0
T0=$SECONDS
for proxy in $PROXIES; do
  case "$proxy" in
    srvproxy) base=14 ;;
    kamailio) base=15 ;;
    *) die "unknown proxy $proxy (srvproxy, kamailio)" ;;
  esac
  for run in $RUNS; do
    if ! (trap "kill_tracked 2>/dev/null" EXIT; one_run "$proxy" "$base" "$run"); then
      started_all=0
      log "$proxy/$run: FAILED (see the log lines above)"
      echo "$run failed - - -" >>"$WORK/$proxy.rows"
    fi
    runs_done=$((runs_done + 1))
    log "progress: switchover run $runs_done of $runs_total done ($proxy $run, $((SECONDS - T0)) s so far); left: $((runs_total - runs_done)) runs, ~$(((SECONDS - T0) * (runs_total - runs_done) / runs_done)) s"
    sleep 1
  done
done

echo
echo "Switchover: primary SIGKILL (kill) or SIGSTOP (freeze) ${AT}s into 200 calls/s; hold: 100 calls/s held 3 s, primary SIGKILL"
printf '%-10s %-7s %7s %7s %18s %14s\n' proxy run calls failed "slowest setup ms" "setups >500ms"
for proxy in $PROXIES; do
  [ -f "$WORK/$proxy.rows" ] || continue
  while read -r run created failed max over; do
    printf '%-10s %-7s %7s %7s %18s %14s\n' "$proxy" "$run" "$created" "$failed" "$max" "$over"
    result "sw.$proxy.$run.calls" "$created"
    result "sw.$proxy.$run.failed" "$failed"
    result "sw.$proxy.$run.max_ms" "$max"
  done <"$WORK/$proxy.rows"
done

[ "$started_all" = 1 ] || exit 1
exit 0
