#!/usr/bin/env bash
# tools/deps.sh — install what minijet needs, only what is missing (make deps).
# Debian packages through apt-get, the nats.js client through npm ci. A no-op when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential pkg-config libglib2.0-dev libjson-glib-dev libsqlite3-dev sqlite3
      gnuplot-nox libnats-dev nats-server pandoc curl python3 libcrypt-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js: Debian's nodejs + npm on a fresh machine; any node >= 18 already present is fine.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

js=tests/interop/js
if [ ! -d "$js/node_modules/nats" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "deps: npm ci in $js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
