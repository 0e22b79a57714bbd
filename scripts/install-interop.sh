#!/usr/bin/env bash
# Installs the Debian tools that `npm run test:interop` and the benchmarks use:
# dig, named-checkzone, named (bind9: a secondary in the zone-transfer test), sipp, dnsperf, gdnsd, kamailio, baresip,
# chromium (headless, driven by playwright-core: the status-page test), prometheus (promtool: the alert rules),
# iproute2 and iptables (network namespaces and the NAT in front of baresip: the flows-nat test, run as root).
# Runs as root (or with sudo). Safe to run again.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES=(bind9 bind9-utils bind9-dnsutils sip-tester dnsperf gdnsd kamailio baresip chromium prometheus iproute2 iptables)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-interop: all present (${PACKAGES[*]})"
  exit 0
fi
echo "install-interop: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Services that packages start on install are not wanted: policy-rc.d refuses them.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The tests need promtool only: no Prometheus server left running, or enabled at boot.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "install-interop: done"
