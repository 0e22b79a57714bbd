#!/usr/bin/env bash
# bench-sip.sh (`npm run bench:sip`): the highest call rate with under 0.1%
# failed calls through srvproxy and through Kamailio, in the same run and the
# same topology on loopback (x = 4 for srvproxy, 5 for Kamailio):
#
#   sipp UAC 127.0.0.1x0 --> proxy 127.0.0.1x1:25060 --> primary 127.0.0.1x2:25060 (sipp UAS, -aa)
#                                                        backup  127.0.0.1x3:25060 (sipp UAS, -aa)
#
# A call is INVITE/200/ACK/BYE/200 with Record-Route (the UAC's ACK and BYE
# follow the route set through the proxy). Both topologies are up for the
# whole run and the steps alternate between the proxies (srvproxy at a rate,
# then Kamailio at its rate, ...), so that other load on the machine hits both
# alike. Each proxy's search steps the rate up by SIP_STEP from SIP_START,
# each step SIP_STEP_SECONDS worth of calls, until a step is not clean, then
# bisects twice between its last clean rate and its first unclean one. A step
# is clean when fewer than 0.1% of its calls failed (created - successful)
# and the calls were really set up at >= 90% of the asked rate.
# Also measured: CPU seconds of each proxy's processes during its own steps
# (Kamailio: main process and workers) and their peak memory.
#
# After each step, a progress line says what is left at most (steps, seconds).
# Each step's figures go to BENCH_STEPS when set (scripts/bench.sh charts them).
#
# Then the overload curve (SIP_OVERLOAD=0 skips it, SIP_OVERLOAD_ONLY=1 runs
# only it): each proxy gets half a core (pinned to CPU 0 beside a busy loop,
# the proxy and the loop each in a cgroup of the cpu controller where one can
# be made, so that Kamailio's several workers get half the core between them,
# as srvproxy's one thread does) and the sipp processes the other (CPU 1), so
# that sipp can offer more than the proxy carries; the offered rate rises by OV_STEP from OV_START, the
# proxies alternating, until it is twice the best goodput seen for that proxy
# (or OV_MAX). Goodput = calls set up and ended (the BYE got its 200) per
# second of offered load, from sipp's message counts; a 503 from overload
# control is acknowledged and not a call. Per step: offered, goodput, 503s,
# failed (neither ended nor refused), set up but not ended (admitted calls
# lost), p99 setup of set-up calls, the proxy's CPU seconds (from the step's
# first call to its last message); at the end each proxy's goodput at 1.5x
# and 2x its best, as a share of the best, and its peak RSS; when the best
# came from a step that was not clean, the same against the best clean step.
#
# Environment: SIP_PROXIES ("srvproxy kamailio"), SIP_START (500), SIP_STEP
# (500), SIP_MAX (8000), SIP_STEP_SECONDS (6), OV_START (250), OV_STEP (250),
# OV_MAX (6000), OV_STEP_SECONDS (6), BENCH_KEEP=1 keeps the logs.
# Exit status: 0 when every proxy and sipp started and lasted; 1 otherwise.
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

declare -A BASE=([srvproxy]=14 [kamailio]=15)
declare -A PID=() CLEAN=() BAD=() NEXT=() BISECTS=() DONE=() CPU=() CALLS=() STEPS=()
STEPS_DONE=0

# up NAME: stand-ins and the proxy; writes the proxy's pid to $WORK/NAME.pid.
up() {
  local name=$1 base=${BASE[$1]}
  local proxy=127.0.0.${base}1 primary=127.0.0.${base}2 backup=127.0.0.${base}3
  log "$name: stand-ins $primary (primary) and $backup (backup), proxy $proxy:$PORT"
  start_uas "$name-primary" uas-rr.xml "$primary" "$PORT"
  start_uas "$name-backup" uas-backup.xml "$backup" "$PORT"
  if [ "$name" = kamailio ]; then
    start_kamailio "$proxy" "$PORT" "$primary" "$backup" "$PORT"
  else
    ensure_built
    start_srvproxy "$proxy" "$PORT" "$primary" "$backup" 25053 25081
    wait_srvproxy_active "$primary" 10 || log "srvproxy: /status does not show $primary active; going on"
  fi
  echo "$PROXY_PID" >"$WORK/$name.pid"
}

# step NAME RATE: one sipp run at RATE through NAME; sets STEP_CLEAN (0/1).
step() {
  local name=$1 rate=$2 calls=$(($2 * STEP_SECONDS)) base=${BASE[$1]} cpu0 cpu1
  UAC_ADDR=127.0.0.${base}0
  cpu0=$(cpu_seconds $(proc_tree "${PID[$name]}"))
  run_uac "$name-$rate" uac-rr.xml "127.0.0.${base}1:$PORT" "$rate" "$calls" $((rate * 4)) $((STEP_SECONDS + 30)) \
    -recv_timeout 5000 -max_invite_retrans 4 -max_non_invite_retrans 4
  finish_uac
  cpu1=$(cpu_seconds $(proc_tree "${PID[$name]}"))
  CPU[$name]=$(awk -v t="${CPU[$name]}" -v a="$cpu1" -v b="$cpu0" 'BEGIN { printf "%.2f", t + a - b }')
  local created failed retrans setup_rate setup_p99_ms
  created=$(uac_stat created) failed=$(uac_stat failed) retrans=$(uac_stat retrans)
  setup_rate=$(uac_stat setup_rate) setup_p99_ms=$(uac_stat setup_p99_ms)
  CALLS[$name]=$((CALLS[$name] + created))
  STEPS[$name]=$((STEPS[$name] + 1))
  STEP_CLEAN=0
  if [ "$created" -ge "$calls" ] && [ $((failed * 1000)) -lt "$created" ] &&
    awk -v a="$setup_rate" -v r="$rate" 'BEGIN { exit !(a >= 0.9 * r) }'; then
    STEP_CLEAN=1
  fi
  printf '  %-9s %5s calls/s: %6s calls, %5s failed, %6s retransmissions, set up at %7s/s, p99 setup %s ms %s\n' \
    "$name" "$rate" "$created" "$failed" "$retrans" "$setup_rate" "$setup_p99_ms" \
    "$([ "$STEP_CLEAN" = 1 ] && echo clean || echo NOT-CLEAN)" >&2
  step_record "$(printf '{"part":"sip","series":"%s","step":%s,"rate":%s,"calls":%s,"failed":%s,"setupRate":%s,"clean":%s}' \
    "$name" "${STEPS[$name]}" "$rate" "$(json_num "$created")" "$(json_num "$failed")" "$(json_num "$setup_rate")" \
    "$([ "$STEP_CLEAN" = 1 ] && echo true || echo false)")"
  sleep 1
}

# steps_left NAME: at most how many steps NAME's search still takes (after advance).
steps_left() {
  local name=$1
  if [ "${DONE[$name]}" = 1 ]; then
    echo 0
  elif [ "${BAD[$name]}" -eq 0 ]; then
    echo $(((MAX - NEXT[$name]) / STEP + 1 + 2))
  else
    echo $((1 + 2 - BISECTS[$name]))
  fi
}

# progress NAME: one line after each step: what was done, what is left at most.
progress() {
  local n left=0 each parts=()
  STEPS_DONE=$((STEPS_DONE + 1))
  for n in $PROXIES; do
    [ -n "${PID[$n]:-}" ] || continue
    each=$(steps_left "$n")
    left=$((left + each))
    parts+=("$n $each")
  done
  log "progress: sip step $STEPS_DONE done ($1 at ${RATE_DONE}/s, $((SECONDS - T0)) s so far); left: at most $left steps (${parts[*]}), ~$((left * (STEP_SECONDS + 2))) s"
}

# advance NAME: the next rate of NAME's search after a step, or DONE.
advance() {
  local name=$1 rate=${NEXT[$1]} mid
  if [ "${BAD[$name]}" -eq 0 ]; then
    if [ "$STEP_CLEAN" = 1 ]; then
      CLEAN[$name]=$rate
      NEXT[$name]=$((rate + STEP))
      [ "${NEXT[$name]}" -le "$MAX" ] || DONE[$name]=1
      return
    fi
    BAD[$name]=$rate
  elif [ "$STEP_CLEAN" = 1 ]; then
    CLEAN[$name]=$rate
  else
    BAD[$name]=$rate
  fi
  mid=$(((CLEAN[$name] + BAD[$name]) / 2 / 50 * 50))
  if [ "${BISECTS[$name]}" -ge 2 ] || [ "$mid" -le "${CLEAN[$name]}" ] || [ "$mid" -ge "${BAD[$name]}" ]; then
    DONE[$name]=1
    return
  fi
  BISECTS[$name]=$((BISECTS[$name] + 1))
  NEXT[$name]=$mid
}

for name in $PROXIES; do
  [ -n "${BASE[$name]:-}" ] || die "unknown proxy $name (srvproxy, kamailio)"
  # A proxy that fails to start is reported; the other one is still measured.
  if (up "$name"); then
    PID[$name]=$(cat "$WORK/$name.pid")
    CLEAN[$name]=0 BAD[$name]=0 NEXT[$name]=$START BISECTS[$name]=0 DONE[$name]=0 CPU[$name]=0 CALLS[$name]=0 STEPS[$name]=0
    start_pss_sampler "${PID[$name]}" "$WORK/$name.pss"
  else
    started_all=0
    log "$name: FAILED to start (see above)"
  fi
done
sleep 2 # the first OPTIONS rounds
T0=$SECONDS

searching=1
[ "${SIP_OVERLOAD_ONLY:-0}" = 1 ] && searching=0
while [ "$searching" = 1 ]; do
  searching=0
  for name in $PROXIES; do
    [ -n "${PID[$name]:-}" ] && [ "${DONE[$name]}" = 0 ] || continue
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      wait "${PID[$name]}" 2>/dev/null
      log "$name exited during the benchmark (status $?): $(tail -5 "$WORK/$name"/*.log 2>/dev/null)"
      DONE[$name]=1 started_all=0 CLEAN[$name]=failed
      continue
    fi
    RATE_DONE=${NEXT[$name]}
    step "$name" "${NEXT[$name]}"
    advance "$name"
    progress "$name"
    searching=1
  done
done

search_report() {
echo
echo "SIP calls/s with < 0.1% failed (INVITE/200/ACK/BYE/200, Record-Route, UDP, loopback, $(nproc) cores shared with sipp)"
printf '%-10s %12s %10s %12s %14s %14s\n' proxy calls/s "CPU s" "CPU ms/call" "peak RSS MB" "peak PSS MB"
for name in $PROXIES; do
  if [ -z "${PID[$name]:-}" ] || [ "${CLEAN[$name]}" = failed ]; then
    printf '%-10s %12s\n' "$name" "failed"
    result "sip.$name.cps" failed
    continue
  fi
  tree=$(proc_tree "${PID[$name]}")
  hwm=$(hwm_mb $tree)
  pss=$(cat "$WORK/$name.pss")
  per=$(awk -v c="${CPU[$name]}" -v n="${CALLS[$name]}" 'BEGIN { if (n > 0) printf "%.3f", c * 1000 / n; else print "-" }')
  printf '%-10s %12s %10s %12s %14s %14s\n' "$name" "${CLEAN[$name]}" "${CPU[$name]}" "$per" "$hwm" "$pss"
  result "sip.$name.cps" "${CLEAN[$name]}"
  result "sip.$name.cpu_s" "${CPU[$name]}"
  result "sip.$name.cpu_ms_per_call" "$per"
  result "sip.$name.rss_mb" "$hwm"
  result "sip.$name.pss_mb" "$pss"
done
a=${CLEAN[srvproxy]:-} b=${CLEAN[kamailio]:-}
if [[ "$a" =~ ^[0-9]+$ ]] && [[ "$b" =~ ^[0-9]+$ ]]; then
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  echo "ratio srvproxy/Kamailio: $ratio"
  result sip.ratio "$ratio"
fi
}
[ "${SIP_OVERLOAD_ONLY:-0}" = 1 ] || search_report

# ---- the overload curve ----

OV_START=${OV_START:-250}
OV_STEP=${OV_STEP:-250}
OV_MAX=${OV_MAX:-6000}
OV_STEP_SECONDS=${OV_STEP_SECONDS:-6}
declare -A OV_NEXT=() OV_BEST=() OV_BEST_AT=() OV_DONE=() OV_LINES=()

# pin_half_core: every proxy's processes (and threads) on CPU 0 beside one
# busy loop, the sipp stand-ins on CPU 1; the UAC runs pinned to CPU 1. The
# busy loop and each proxy are in cpu groups of their own (cpu_group): the
# whole proxy gets half the core, however many processes or threads it runs.
# (The busy loop needs its own too: left in the group of this script, whose
# sipp processes run on CPU 1, its weight would be split across both CPUs,
# and a grouped proxy would get two thirds of CPU 0.)
pin_half_core() {
  local name p
  CPU_GROUPS=1
  bash -c 'while :; do :; done' &
  BUSY_PID=$!
  track "$BUSY_PID"
  taskset -pc 0 "$BUSY_PID" >/dev/null
  cpu_group busy "$BUSY_PID" || CPU_GROUPS=0
  for name in $PROXIES; do
    [ -n "${PID[$name]:-}" ] || continue
    for p in $(proc_tree "${PID[$name]}"); do taskset -apc 0 "$p" >/dev/null 2>&1; done
    # shellcheck disable=SC2046
    [ "$CPU_GROUPS" = 1 ] && cpu_group "$name" $(proc_tree "${PID[$name]}") && continue
    CPU_GROUPS=0
    log "$name: no cpu group (no writable cgroup cpu controller): each of its processes and threads shares CPU 0 with the busy loop as one task"
  done
  for p in $(pgrep -x sipp 2>/dev/null); do
    case "$(readlink "/proc/$p/cwd")" in "$WORK"/*) taskset -apc 1 "$p" >/dev/null 2>&1 ;; esac
  done
  SIPP_CPU=1
}

# ov_step NAME RATE: one step of the curve; appends a line to OV_LINES[NAME].
ov_step() {
  local name=$1 rate=$2 calls=$(($2 * OV_STEP_SECONDS)) base=${BASE[$1]} created failed setups completed lost p99 goodput refused cpu0 cpu
  UAC_ADDR=127.0.0.${base}0
  cpu0=$(cpu_seconds $(proc_tree "${PID[$name]}"))
  run_uac "$name-ov-$rate" uac-rr-overload.xml "127.0.0.${base}1:$PORT" "$rate" "$calls" $((rate * 4)) $((OV_STEP_SECONDS + 30)) \
    -recv_timeout 5000 -max_invite_retrans 4 -max_non_invite_retrans 4 -trace_counts
  finish_uac
  cpu=$(awk -v a="$(cpu_seconds $(proc_tree "${PID[$name]}"))" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }')
  created=$(uac_stat created) failed=$(uac_stat failed) setups=$(uac_stat setups) p99=$(uac_stat setup_p99_ms)
  completed=$(uac_stat completed) refused=$(uac_stat refused)
  : "${completed:=0}" "${refused:=0}"
  # goodput: calls set up and ended (their BYE got 200) per second of offered load
  goodput=$(awk -v s="$completed" -v t="$OV_STEP_SECONDS" 'BEGIN { printf "%.0f", s / t }')
  lost=$((setups - completed)) # set up (admitted) but not ended
  [ "$lost" -ge 0 ] || lost=0
  if [ "$goodput" -gt "${OV_BEST[$name]}" ]; then OV_BEST[$name]=$goodput OV_BEST_AT[$name]=$rate; fi
  OV_LINES[$name]+="$rate $goodput $refused $failed $lost $p99 $cpu"$'\n'
  printf '  %-9s offered %5s/s: goodput %5s/s, %6s refused (503), %6s failed, %5s set up but not ended, p99 setup %s ms, CPU %s s\n' \
    "$name" "$rate" "$goodput" "$refused" "$failed" "$lost" "$p99" "$cpu" >&2
  step_record "$(printf '{"part":"sip-overload","series":"%s","rate":%s,"goodput":%s,"refused":%s,"failed":%s,"lost":%s,"setupP99Ms":%s,"cpuSeconds":%s}' \
    "$name" "$rate" "$goodput" "$refused" "$(json_num "$failed")" "$lost" "$(json_num "$p99")" "$(json_num "$cpu")")"
  sleep 2
}

# ov_share LINES BEST FACTOR: goodput at the first offered rate >= FACTOR x BEST, as a share of
# BEST ("0.85 (offered 3000)"), or "-" when the curve did not get that far.
ov_share() {
  printf '%s' "$1" | awk -v b="$2" -v f="$3" \
    '$1 >= f * b && !done { printf "%.2f (offered %s)", (b > 0 ? $2 / b : 0), $1; done = 1 } END { if (!done) print "-" }'
}

if [ "${SIP_OVERLOAD:-1}" != 0 ]; then
  pin_half_core
  log "overload curve: proxies pinned to CPU 0 beside a busy loop$([ "$CPU_GROUPS" = 1 ] && echo ', each in a cpu group'), sipp on CPU 1"
  for name in $PROXIES; do
    [ -n "${PID[$name]:-}" ] && kill -0 "${PID[$name]}" 2>/dev/null || continue
    OV_NEXT[$name]=$OV_START OV_BEST[$name]=0 OV_BEST_AT[$name]=0 OV_DONE[$name]=0
    # warm-up (JIT, caches) at a rate both carry, not counted
    UAC_ADDR=127.0.0.${BASE[$name]}0
    run_uac "$name-ov-warmup" uac-rr-overload.xml "127.0.0.${BASE[$name]}1:$PORT" 100 300 400 40
    finish_uac
    sleep 2
  done
  searching=1
  while [ "$searching" = 1 ]; do
    searching=0
    for name in $PROXIES; do
      [ -n "${OV_DONE[$name]:-}" ] && [ "${OV_DONE[$name]}" = 0 ] || continue
      if ! kill -0 "${PID[$name]}" 2>/dev/null; then
        log "$name exited during the overload curve"
        OV_DONE[$name]=1 started_all=0
        continue
      fi
      ov_step "$name" "${OV_NEXT[$name]}"
      # done at twice the best goodput, once the best is two steps behind (goodput no longer rising)
      if { [ "${OV_NEXT[$name]}" -ge $((2 * OV_BEST[$name])) ] && [ "${OV_NEXT[$name]}" -ge $((OV_BEST_AT[$name] + 2 * OV_STEP)) ]; } ||
        [ $((OV_NEXT[$name] + OV_STEP)) -gt "$OV_MAX" ]; then
        OV_DONE[$name]=1
      fi
      OV_NEXT[$name]=$((OV_NEXT[$name] + OV_STEP))
      searching=1
    done
  done
  echo
  echo "SIP overload curve (proxy: half a core, pinned beside a busy loop; sipp: the other core)"
  for name in $PROXIES; do
    [ -n "${OV_LINES[$name]:-}" ] || continue
    echo "$name (best goodput ${OV_BEST[$name]}/s, peak RSS $(hwm_mb $(proc_tree "${PID[$name]}")) MB)"
    printf '  %8s %8s %8s %8s %8s %10s %8s\n' offered goodput refused failed "not ended" "p99 ms" "CPU s"
    printf '%s' "${OV_LINES[$name]}" | awk '{ printf "  %8s %8s %8s %8s %8s %10s %8s\n", $1, $2, $3, $4, $5, $6, $7 }'
    for f in 1.5 2; do
      share=$(ov_share "${OV_LINES[$name]}" "${OV_BEST[$name]}" "$f")
      echo "  goodput at ${f}x the best: $share"
      result "sip.overload.$name.goodput_at_${f}x" "${share%% *}"
    done
    # the same against the best clean step (everything offered carried: nothing refused, failed
    # or left not ended), when the best goodput came from a step that was not clean
    clean=$(printf '%s' "${OV_LINES[$name]}" | awk '$3 == 0 && $4 == 0 && $5 == 0 && $2 > b { b = $2 } END { print b + 0 }')
    if [ "$clean" -gt 0 ] && [ "$clean" != "${OV_BEST[$name]}" ]; then
      for f in 1.5 2; do
        echo "  goodput at ${f}x the best clean step (${clean}/s): $(ov_share "${OV_LINES[$name]}" "$clean" "$f")"
      done
    fi
    result "sip.overload.$name.best" "${OV_BEST[$name]}"
  done
fi

[ "$started_all" = 1 ] || exit 1
exit 0
