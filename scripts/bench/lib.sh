# scripts/bench/lib.sh: shared by the SIP benchmark scripts (sourced, not run).
#
# Starts and stops the pieces of one benchmark topology on loopback and
# measures them:
#   - sipp UAS stand-ins for the two members of a SIP Server HA pair,
#   - the proxy under test: srvproxy (`srvproxy run`) or Kamailio
#     (kamailio.cfg.in: tm + rr + dispatcher algorithm 8),
#   - a sipp UAC driving calls through the proxy,
#   - CPU seconds and memory of a process tree from /proc,
# and records figures for scripts/bench.sh: totals (result) and each step's
# (step_record, drawn by scripts/bench/charts.mjs).
# Every process started here is recorded and killed by the EXIT trap that
# bench_init installs, whatever way the script ends.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_LIB_DIR/../.." && pwd)
SIPP_DIR="$BENCH_LIB_DIR/sipp"
SRVPROXY_CLI="$ROOT/dist/src/cli/main.js"
CLK_TCK=$(getconf CLK_TCK)

WORK=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# kill_tracked: SIGKILL for every process recorded by track() that still
# runs (frozen ones are continued first), and Kamailio's workers with them.
kill_tracked() {
  local pid c
  [ -n "$WORK" ] && [ -f "$WORK/pids" ] || return 0
  for pid in $(tac "$WORK/pids"); do
    kill -0 "$pid" 2>/dev/null || continue
    kill -CONT "$pid" 2>/dev/null
    for c in $(pgrep -P "$pid" 2>/dev/null); do kill -KILL "$c" 2>/dev/null; done
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  return 0
}

bench_cleanup() {
  local rc=$?
  kill_tracked 2>/dev/null
  remove_cpu_groups
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
      log "work files kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  return "$rc"
}

# bench_init NAME: a work folder and the cleanup trap.
bench_init() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/srvproxy-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# cpu_group NAME PID...: the processes, all their threads and whatever they
# fork later, in a group of the cpu controller (cgroup v1 or v2) beside the
# caller's own, so that the scheduler gives the group as a whole the share of
# one task: a proxy of several worker processes (Kamailio) or with busy helper
# threads (V8's garbage collector) pinned beside one busy loop then gets half
# the core, not a share per process or thread. Returns 1, doing nothing, where
# no cpu controller can be written (not root, no such controller).
cpu_group() {
  local name=$1 base="" path dir p
  shift
  path=$(sed -n 's/^[0-9]*:\([a-z,]*,\)\{0,1\}cpu\(,[a-z,]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup | head -1)
  if [ -n "$path" ]; then
    for base in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpuacct,cpu; do
      [ -d "$base$path" ] && break
      base=""
    done
  elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    path=$(sed -n 's/^0:://p' /proc/self/cgroup | head -1)
    base=/sys/fs/cgroup
    grep -qw cpu "$base$path/cgroup.subtree_control" 2>/dev/null || echo +cpu >"$base$path/cgroup.subtree_control" 2>/dev/null || return 1
  fi
  [ -n "$base" ] || return 1
  dir="$base${path%/}/srvproxy-bench-$name-$$"
  mkdir -p "$dir" 2>/dev/null || return 1
  echo "$dir" >>"$WORK/cgroups"
  for p in "$@"; do echo "$p" >"$dir/cgroup.procs" 2>/dev/null || return 1; done
}

# remove_cpu_groups: the groups made by cpu_group, once their processes have
# gone (killed workers of Kamailio leave a moment later: up to 3 s).
remove_cpu_groups() {
  local dir i
  [ -n "$WORK" ] && [ -f "$WORK/cgroups" ] || return 0
  while read -r dir; do
    for ((i = 0; i < 30; i++)); do
      rmdir "$dir" 2>/dev/null && break
      [ -d "$dir" ] || break
      sleep 0.1
    done
  done <"$WORK/cgroups"
  return 0
}

# track PID: recorded in the work folder, so that the cleanup also finds
# processes started in a subshell.
track() { echo "$1" >>"$WORK/pids"; }

require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    die "missing: ${missing[*]}; install them with: sudo bash scripts/install-interop.sh"
  fi
}

# Builds dist/ when the CLI is not there yet (tsc emits even with type errors).
ensure_built() {
  [ -f "$SRVPROXY_CLI" ] && return 0
  log "building srvproxy (tsc)"
  (cd "$ROOT" && npx tsc -p tsconfig.json >/dev/null 2>&1) || true
  [ -f "$SRVPROXY_CLI" ] || die "build failed: $SRVPROXY_CLI missing (run: npx tsc -p tsconfig.json)"
}

# udp_bound ADDR PORT: true when something listens on ADDR:PORT/udp.
udp_bound() { [ -n "$(ss -Huln src "$1:$2" 2>/dev/null)" ]; }

# wait_udp PID ADDR PORT SECONDS: until PID listens on ADDR:PORT, or fail.
wait_udp() {
  local pid=$1 addr=$2 port=$3 end=$((SECONDS + $4))
  while [ "$SECONDS" -le "$end" ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    udp_bound "$addr" "$port" && return 0
    sleep 0.1
  done
  return 1
}

# port_free ADDR PORT or die.
port_free() { udp_bound "$1" "$2" && die "$1:$2/udp is already in use"; return 0; }

# start_uas NAME SCENARIO ADDR PORT: a sipp SIP Server stand-in that answers
# OPTIONS with 200 (-aa). Sets UAS_PID. BENCH_UAS_ARGS adds sipp options
# (e.g. -trace_msg to see every message a stand-in got).
start_uas() {
  local name=$1 scen=$2 addr=$3 port=$4
  port_free "$addr" "$port"
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && exec sipp -sf "$SIPP_DIR/$scen" -i "$addr" -p "$port" -aa -nostdin \
    -trace_err -error_file "$WORK/$name/errors.log" -max_log_size 2000000 \
    -max_recv_loops 10000 -buff_size 2097152 ${BENCH_UAS_ARGS:-}) >"$WORK/$name/sipp.out" 2>&1 &
  UAS_PID=$!
  track "$UAS_PID"
  wait_udp "$UAS_PID" "$addr" "$port" 5 ||
    die "sipp stand-in $name did not start on $addr:$port: $(tail -3 "$WORK/$name/sipp.out")"
}

# kamailio_mpath: the folder of Kamailio's modules.
kamailio_mpath() {
  local d
  for d in /usr/lib/x86_64-linux-gnu/kamailio/modules /usr/lib/aarch64-linux-gnu/kamailio/modules \
    /usr/lib/*/kamailio/modules /usr/lib/kamailio/modules /usr/lib64/kamailio/modules \
    /usr/local/lib64/kamailio/modules /usr/local/lib/kamailio/modules; do
    [ -f "$d/tm.so" ] && { echo "$d/"; return 0; }
  done
  return 1
}

# start_kamailio ADDR PORT PRIMARY_ADDR BACKUP_ADDR MEMBER_PORT: the config
# and dispatcher list are written into the work folder. Sets PROXY_PID.
start_kamailio() {
  local addr=$1 port=$2 primary=$3 backup=$4 mport=$5 dir="$WORK/kamailio" mpath
  port_free "$addr" "$port"
  mpath=$(kamailio_mpath) || die "Kamailio modules (tm.so) not found; install with: sudo bash scripts/install-interop.sh"
  mkdir -p "$dir"
  # Dispatcher priority: the higher number is tried first (algorithm 8).
  printf '# setid destination flags priority\n1 sip:%s:%s 0 10\n1 sip:%s:%s 0 5\n' \
    "$primary" "$mport" "$backup" "$mport" >"$dir/dispatcher.list"
  sed -e "s|@PROXY_ADDR@|$addr|g" -e "s|@PROXY_PORT@|$port|g" -e "s|@DSLIST@|$dir/dispatcher.list|g" \
    -e "s|@MPATH@|$mpath|g" -e "s|@CHILDREN@|${KAMAILIO_CHILDREN:-2}|g" \
    "$BENCH_LIB_DIR/kamailio.cfg.in" >"$dir/kamailio.cfg"
  kamailio -c -f "$dir/kamailio.cfg" >"$dir/check.out" 2>&1 ||
    die "Kamailio rejected its config: $(grep -i error "$dir/check.out" | head -3)"
  # -DD: no daemon, so $! is the main process and its workers are its children.
  kamailio -f "$dir/kamailio.cfg" -m 2048 -M 64 -E -DD -P "$dir/kamailio.pid" -w "$dir" >"$dir/kamailio.log" 2>&1 &
  PROXY_PID=$!
  track "$PROXY_PID"
  wait_udp "$PROXY_PID" "$addr" "$port" 10 ||
    die "Kamailio did not start on $addr:$port: $(tail -5 "$dir/kamailio.log")"
}

# stop_proc PID: SIGTERM, up to 5 s, then SIGKILL for it and its children.
stop_proc() {
  local pid=$1 i kids
  kill -0 "$pid" 2>/dev/null || return 0
  kids=$(pgrep -P "$pid" 2>/dev/null)
  kill -CONT "$pid" 2>/dev/null
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  for c in $kids; do kill -KILL "$c" 2>/dev/null; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# write_site_zone DIR PROXY_ADDR PORT PRIMARY_ADDR BACKUP_ADDR: one instance
# (proxy1) in the pool sipproxy.example.com and the pair tserver.example.com.
write_site_zone() {
  local dir=$1 addr=$2 port=$3 primary=$4 backup=$5
  mkdir -p "$dir"
  cat >"$dir/example.com.zone" <<EOF
\$ORIGIN example.com.
\$TTL 5
@                   SOA ns1 hostmaster 2026112501 3600 600 86400 5
@                   NS  ns1
ns1                 A   $addr
proxy1              A   $addr
sipproxy            A   $addr
_sip._udp.sipproxy  SRV 10 50 $port proxy1
_sip._tcp.sipproxy  SRV 10 50 $port proxy1
sips-a              A   $primary
sips-b              A   $backup
_sip._udp.tserver   SRV 10 0 $port sips-a   ; primary
_sip._udp.tserver   SRV 20 0 $port sips-b   ; backup
EOF
}

# start_srvproxy ADDR PORT PRIMARY_ADDR BACKUP_ADDR DNS_PORT HTTP_PORT:
# `srvproxy run` for proxy1.example.com. Sets PROXY_PID, SRVPROXY_HTTP.
start_srvproxy() {
  local addr=$1 port=$2 primary=$3 backup=$4 dnsport=$5 httpport=$6 dir="$WORK/srvproxy" i
  port_free "$addr" "$port"
  write_site_zone "$dir/zones" "$addr" "$port" "$primary" "$backup"
  # SRVPROXY_NODE_ARGS: options for node itself (e.g. --cpu-prof, see profile-sip.sh).
  node ${SRVPROXY_NODE_ARGS:-} "$SRVPROXY_CLI" run --self proxy1.example.com --pair tserver.example.com --zones "$dir/zones" \
    --dns-port "$dnsport" --http "127.0.0.1:$httpport" --log-format json --log-level "${SRVPROXY_LOG_LEVEL:-warn}" \
    ${SRVPROXY_ARGS:-} >"$dir/srvproxy.log" 2>&1 &
  PROXY_PID=$!
  track "$PROXY_PID"
  SRVPROXY_HTTP="http://127.0.0.1:$httpport"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$PROXY_PID" 2>/dev/null || break
    if curl -fsS -m 1 "$SRVPROXY_HTTP/healthz" >/dev/null 2>&1 && udp_bound "$addr" "$port"; then
      return 0
    fi
    sleep 0.1
  done
  die "srvproxy did not start on $addr:$port (healthz $SRVPROXY_HTTP): $(tail -5 "$dir/srvproxy.log")"
}

# wait_srvproxy_active MEMBER_ADDR SECONDS: until /status names a pair whose
# active member has that address (best effort: false when /status has no answer).
wait_srvproxy_active() {
  local want=$1 end=$((SECONDS + $2))
  while [ "$SECONDS" -le "$end" ]; do
    if curl -fsS -m 1 "$SRVPROXY_HTTP/status" 2>/dev/null | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const st = JSON.parse(s);
        const ok = (st.pairs || []).some((p) => p.inService && p.active &&
          (p.members || []).some((m) => m.target === p.active && m.address === process.argv[1]));
        process.exit(ok ? 0 : 1);
      });' "$want" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# proc_tree PID: PID and its children (Kamailio's workers).
proc_tree() { echo "$1" $(pgrep -P "$1" 2>/dev/null); }

# cpu_seconds PID...: user+system CPU seconds of the processes so far.
cpu_seconds() {
  local ticks=0 p s
  for p in "$@"; do
    s=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null | awk '{print $1 + $2}') || continue
    ticks=$((ticks + ${s:-0}))
  done
  awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'
}

# hwm_mb PID...: sum of peak resident set sizes (VmHWM) in MB.
hwm_mb() {
  local kb=0 p v
  for p in "$@"; do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    kb=$((kb + ${v:-0}))
  done
  awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }'
}

# pss_mb PID...: current proportional set size in MB (shared pages split
# between the processes that map them, so a tree's sum is not inflated).
pss_mb() {
  local kb=0 p v
  for p in "$@"; do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    kb=$((kb + ${v:-0}))
  done
  awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }'
}

# start_pss_sampler PID FILE: samples the tree's PSS every second and keeps
# the peak in FILE. Sets SAMPLER_PID.
start_pss_sampler() {
  local pid=$1 file=$2
  echo 0 >"$file"
  (
    peak=0
    while kill -0 "$pid" 2>/dev/null; do
      now=$(pss_mb $(proc_tree "$pid"))
      if awk -v a="$now" -v b="$peak" 'BEGIN { exit !(a > b) }'; then
        peak=$now
        echo "$peak" >"$file"
      fi
      sleep 1
    done
  ) &
  SAMPLER_PID=$!
  track "$SAMPLER_PID"
}

# run_uac NAME SCENARIO TARGET RATE CALLS LIMIT SECONDS [sipp args...]: one
# sipp UAC run in the background from UAC_ADDR:UAC_PORT. Sets UAC_PID and
# UAC_DIR; collect it with finish_uac. SIPP_CPU: pin it to that CPU.
run_uac() {
  local name=$1 scen=$2 target=$3 rate=$4 calls=$5 limit=$6 secs=$7
  shift 7
  UAC_DIR="$WORK/$name"
  mkdir -p "$UAC_DIR"
  (cd "$UAC_DIR" && exec ${SIPP_CPU:+taskset -c "$SIPP_CPU"} timeout -k 3 "$secs" sipp -sf "$SIPP_DIR/$scen" -i "$UAC_ADDR" -p "$UAC_PORT" "$target" \
    -r "$rate" -m "$calls" -l "$limit" -nostdin -trace_stat -stf stat.csv -fd 1 \
    -trace_rtt -rtt_freq 1 -trace_err -error_file errors.log -max_log_size 2000000 \
    -max_recv_loops 10000 -max_sched_loops 10000 -buff_size 2097152 "$@") >"$UAC_DIR/sipp.out" 2>&1 &
  UAC_PID=$!
  track "$UAC_PID"
}

# finish_uac: waits for the UAC (call it in the script's own shell, not in
# $(...)) and sets UAC_STATS to its summary (sipp-stats.mjs), e.g.
# "created=1200 ok=1200 failed=0 ...".
finish_uac() {
  wait "$UAC_PID" 2>/dev/null
  local rc=$? rtt counts
  rtt=$(ls "$UAC_DIR"/*_rtt.csv 2>/dev/null | head -1)
  counts=$(ls "$UAC_DIR"/*_counts.csv 2>/dev/null | head -1)
  if [ ! -s "$UAC_DIR/stat.csv" ]; then
    die "sipp UAC did not run (exit $rc): $(tail -3 "$UAC_DIR/sipp.out")"
  fi
  UAC_STATS=$(node "$BENCH_LIB_DIR/sipp-stats.mjs" "$UAC_DIR/stat.csv" "$rtt" $counts) || die "cannot read the sipp statistics in $UAC_DIR"
}

# uac_stat NAME: one field of UAC_STATS.
uac_stat() { echo "$UAC_STATS" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# result KEY VALUE: records a figure for scripts/bench.sh (when it asked).
result() {
  [ -n "${BENCH_RESULTS:-}" ] && printf '%s=%s\n' "$1" "$2" >>"$BENCH_RESULTS"
  return 0
}

# json_num VALUE: VALUE when it is a number, else null (for step_record).
json_num() { [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?$ ]] && echo "$1" || echo null; }

# step_record JSON: one step's figures, one JSON object on one line, for the
# charts that scripts/bench.sh draws (scripts/bench/charts.mjs reads them;
# it names the fields), when it asked (BENCH_STEPS).
step_record() {
  [ -n "${BENCH_STEPS:-}" ] && printf '%s\n' "$1" >>"$BENCH_STEPS"
  return 0
}
