#!/usr/bin/env bash
# Debian packages the test suite and benchmark use as real peers: Prometheus (scrapes
# /metrics in the metrics test), wrk (HTTP load generator for `make bench`) and h2load
# (nghttp2-client: the gRPC load generator for `make bench`) and Chromium (the headless
# browser the console tests drive through Playwright; Playwright's own browser download
# does not work offline, so it runs Debian's /usr/bin/chromium).
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (install with: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a system Prometheus on :9090 where systemd runs; tests start
# their own on a free port, so the system one is not needed.
