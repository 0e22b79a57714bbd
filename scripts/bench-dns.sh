#!/usr/bin/env bash
# scripts/bench-dns.sh (npm run bench:dns): queries/s of srvproxy's DNS plane
# and of gdnsd, serving the same records, driven by dnsperf in the same run.
#
# Both servers load the same zone (the reference pool: three proxies, SRV for
# UDP and TCP, NAPTR); dnsperf sends a mix of SRV, A, NAPTR and NXDOMAIN
# queries. Rounds alternate srvproxy / gdnsd so that other load on the machine
# hits both alike; the median of each is reported, with the ratio.
#
# Be honest about the shape: srvproxy is one Node process (one thread on the
# query path); gdnsd runs its default thread count (one UDP thread per core).
# dnsperf shares the same cores.
#
# Environment:
#   BENCH_DNS_SECONDS   seconds per dnsperf run (default 8)
#   BENCH_DNS_ROUNDS    rounds per server (default 3)
#   BENCH_DNS_CLIENTS   dnsperf -c (default 4)
#   BENCH_DNS_PORT      first of four loopback ports (default 15301)
#   BENCH_DNS_PROFILE=1 run srvproxy with --cpu-prof; prints the top functions
#   BENCH_STEPS         a file to append each round's q/s to (JSON lines; bench.sh charts them)
#   SRVPROXY_DNS_CMD    how to start srvproxy's DNS (default: `srvproxy run` as proxy1;
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_RUN=${BENCH_DNS_SECONDS:-8}
ROUNDS=${BENCH_DNS_ROUNDS:-3}
CLIENTS=${BENCH_DNS_CLIENTS:-4}
PORT_SRV=${BENCH_DNS_PORT:-15301}
PORT_GDNSD=$((PORT_SRV + 1))

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# step_record JSON: one round's figure for scripts/bench.sh's charts (as scripts/bench/lib.sh).
step_record() {
  [ -n "${BENCH_STEPS:-}" ] && printf '%s\n' "$1" >>"$BENCH_STEPS"
  return 0
}

missing=()
for tool in dnsperf gdnsd dig; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing: ${missing[*]}. Install them with: sudo scripts/install-interop.sh (Debian packages dnsperf gdnsd bind9-dnsutils)"
fi
GDNSD=$(command -v gdnsd || echo /usr/sbin/gdnsd)
[ -f "$ROOT/dist/src/dns/server/server.js" ] || (cd "$ROOT" && npx tsc -p tsconfig.json >/dev/null) || true
[ -f "$ROOT/dist/src/dns/server/server.js" ] || die "dist/ is not built: run npm run build"

WORK=$(mktemp -d /tmp/srvproxy-bench-dns.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.3
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# --- The records, identical for both servers -------------------------------
ZONE_BODY='$TTL 30
@ SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 5
@ NS ns1.example.com.
@ NS ns2.example.com.
ns1 A 127.0.0.1
ns2 A 127.0.0.2
proxy1 A 127.0.0.11
proxy2 A 127.0.0.12
proxy3 A 127.0.0.13
_sip._udp.outbound SRV 10 50 5060 proxy1.example.com.
_sip._udp.outbound SRV 10 50 5060 proxy2.example.com.
_sip._udp.outbound SRV 20 50 5060 proxy3.example.com.
_sip._tcp.outbound SRV 10 50 5060 proxy1.example.com.
_sip._tcp.outbound SRV 10 50 5060 proxy2.example.com.
_sip._tcp.outbound SRV 20 50 5060 proxy3.example.com.
outbound NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.outbound.example.com.
outbound NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.outbound.example.com.
sips-a A 127.0.0.21
sips-b A 127.0.0.22
_sip._udp.tserver SRV 10 0 5060 sips-a.example.com.
_sip._udp.tserver SRV 20 0 5060 sips-b.example.com.'

mkdir -p "$WORK/srvproxy" "$WORK/gdnsd/zones" "$WORK/gdnsd/run" "$WORK/gdnsd/state"
printf '$ORIGIN example.com.\n%s\n' "$ZONE_BODY" > "$WORK/srvproxy/example.com.zone"
printf '%s\n' "$ZONE_BODY" > "$WORK/gdnsd/zones/example.com"
cat > "$WORK/gdnsd/config" <<EOF
options => {
  listen => [ 127.0.0.1:$PORT_GDNSD ]
  zones_default_ttl => 30
  # Its own control socket and state, so another gdnsd on the machine does not collide.
  run_dir => $WORK/gdnsd/run
  state_dir => $WORK/gdnsd/state
}
EOF

cat > "$WORK/queries.txt" <<'EOF'
_sip._udp.outbound.example.com SRV
_sip._tcp.outbound.example.com SRV
proxy1.example.com A
proxy2.example.com A
outbound.example.com NAPTR
nothere.example.com A
_sip._udp.missing.example.com SRV
EOF

# --- Start both servers -----------------------------------------------------
PROF_ARGS=()
if [ "${BENCH_DNS_PROFILE:-0}" = 1 ]; then
  mkdir -p "$WORK/prof"
  PROF_ARGS=(--cpu-prof --cpu-prof-dir "$WORK/prof")
fi
# The real product: `srvproxy run` as proxy1 of the pool outbound.example.com (every member
# local, so the SRV priorities are the zone's, as gdnsd serves them), its SIP
# plane on the next port (probing a pair that does not answer: idle), DNS on PORT_SRV.
SRVPROXY_DNS_CMD=${SRVPROXY_DNS_CMD:-"node ${PROF_ARGS[*]} $ROOT/dist/src/cli/main.js run --self proxy1.example.com --pool outbound.example.com --local proxy1.example.com proxy2.example.com proxy3.example.com --pair tserver.example.com --zones $WORK/srvproxy --listen 127.0.0.1 --dns-port $PORT_SRV --sip-port $((PORT_SRV + 2)) --http 127.0.0.1:$((PORT_SRV + 3)) --log-level error"}
log "starting srvproxy DNS on 127.0.0.1:$PORT_SRV"
# shellcheck disable=SC2086
$SRVPROXY_DNS_CMD > "$WORK/srvproxy.log" 2>&1 &
SRV_PID=$!
PIDS+=("$SRV_PID")
log "starting gdnsd on 127.0.0.1:$PORT_GDNSD"
"$GDNSD" -c "$WORK/gdnsd" start > "$WORK/gdnsd.log" 2>&1 &
GD_PID=$!
PIDS+=("$GD_PID")

wait_ready() { # name port pid log
  local i
  for i in $(seq 1 50); do
    kill -0 "$3" 2>/dev/null || { cat "$4" >&2; die "$1 exited before answering"; }
    if dig @127.0.0.1 -p "$2" +time=1 +tries=1 +short proxy1.example.com A 2>/dev/null | grep -q 127.0.0.11; then return 0; fi
    sleep 0.2
  done
  cat "$4" >&2
  die "$1 did not answer on 127.0.0.1:$2"
}
wait_ready srvproxy "$PORT_SRV" "$SRV_PID" "$WORK/srvproxy.log"
wait_ready gdnsd "$PORT_GDNSD" "$GD_PID" "$WORK/gdnsd.log"

# Same answers from both (records only; order within an RRset may differ; the SOA
# serial differs by design: srvproxy serves the zone's serial + seconds since 2026).
records() { # port name type
  dig @127.0.0.1 -p "$1" +noall +answer +authority "$2" "$3" | awk '{$2=""; if ($4 == "SOA") $7="SERIAL"; print}' | sort
}
while read -r name type; do
  a=$(records "$PORT_SRV" "$name" "$type")
  b=$(records "$PORT_GDNSD" "$name" "$type")
  [ "$a" = "$b" ] || { printf 'srvproxy:\n%s\ngdnsd:\n%s\n' "$a" "$b" >&2; die "answers differ for $name $type"; }
done < "$WORK/queries.txt"
log "both servers give the same answers for the query mix"

# --- Measure, alternating ---------------------------------------------------
run_dnsperf() { # port -> queries/s
  dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -c "$CLIENTS" -l "$SECONDS_PER_RUN" -t 2 2>&1 \
    | tee -a "$WORK/dnsperf.log" | awk '/Queries per second/ {printf "%d", $4}'
}
srv_qps=()
gd_qps=()
for r in $(seq 1 "$ROUNDS"); do
  q=$(run_dnsperf "$PORT_SRV"); srv_qps+=("${q:-0}"); log "round $r srvproxy: ${q:-0} q/s"
  step_record "{\"part\":\"dns\",\"series\":\"srvproxy\",\"round\":$r,\"qps\":${q:-0}}"
  q=$(run_dnsperf "$PORT_GDNSD"); gd_qps+=("${q:-0}"); log "round $r gdnsd:    ${q:-0} q/s"
  step_record "{\"part\":\"dns\",\"series\":\"gdnsd\",\"round\":$r,\"qps\":${q:-0}}"
  log "progress: dns round $r of $ROUNDS done; left: $((ROUNDS - r)) rounds, ~$(((ROUNDS - r) * 2 * SECONDS_PER_RUN)) s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
SRV_MED=$(median "${srv_qps[@]}")
GD_MED=$(median "${gd_qps[@]}")
kill -0 "$SRV_PID" 2>/dev/null || die "srvproxy died during the run"
kill -0 "$GD_PID" 2>/dev/null || die "gdnsd died during the run"

printf '\nDNS benchmark (%s cores, dnsperf -c %s, %s s x %s rounds, SRV/A/NAPTR/NXDOMAIN mix)\n' "$(nproc)" "$CLIENTS" "$SECONDS_PER_RUN" "$ROUNDS"
printf '%-22s %12s   %s\n' server 'queries/s' 'rounds'
printf '%-22s %12s   %s\n' "srvproxy (node $(node -v))" "$SRV_MED" "${srv_qps[*]}"
printf '%-22s %12s   %s\n' "gdnsd $("$GDNSD" -V 2>&1 | awk '/version/ {print $3; exit}')" "$GD_MED" "${gd_qps[*]}"
awk -v a="$SRV_MED" -v b="$GD_MED" 'BEGIN { if (b > 0) printf "ratio srvproxy/gdnsd: %.2f (goal >= 0.50)\n", a / b; else print "ratio: n/a (gdnsd measured 0)" }'

if [ "${BENCH_DNS_PROFILE:-0}" = 1 ]; then
  kill -TERM "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  prof=$(ls "$WORK"/prof/*.cpuprofile 2>/dev/null | head -1)
  if [ -n "$prof" ]; then
    printf '\nsrvproxy CPU profile, self time by function (top 15):\n'
    node -e '
      const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const dt = new Map(); const self = new Map();
      p.samples.forEach((id, i) => dt.set(id, (dt.get(id) || 0) + (p.timeDeltas[i] || 0)));
      let total = 0;
      for (const n of p.nodes) {
        const t = dt.get(n.id) || 0; total += t;
        const f = n.callFrame; const k = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
        self.set(k, (self.get(k) || 0) + t);
      }
      [...self].sort((a, b) => b[1] - a[1]).slice(0, 15).forEach(([k, t]) => console.log(`${(100 * t / total).toFixed(1).padStart(6)}%  ${k}`));
    ' "$prof"
  fi
fi
