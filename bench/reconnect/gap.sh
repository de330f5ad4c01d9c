#!/bin/bash
# Measures the outage that a default TypeScript SDK client survives in the
# middle of a call: mooring (bolt) is killed with SIGKILL while the client's
# slow_count runs, kept down for GAP seconds, and started again. The client
# either gets its result (the call is re-run after the restore: slow_count is
# idempotent) or waits out its 20s request timeout (it gave up reconnecting).
#
#   bench/reconnect/gap.sh RETRY_MS GAP_S...
#
# Needs the TypeScript SDK that scripts/setup.sh installs (pinned by
# scripts/auth-e2e-deps) into .tools/auth-e2e.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export SDK=$root/.tools/auth-e2e/node_modules/@modelcontextprotocol/sdk
[ -f "$SDK/package.json" ] || { echo "no TypeScript SDK at $SDK: run scripts/setup.sh" >&2; exit 1; }
bin=$(mktemp -d)/mooring
(cd "$root" && go build -o "$bin" ./cmd/mooring)
retry=$1; shift
pid="" client=""
trap 'kill $pid $client 2>/dev/null || true' EXIT
# until_ok WHAT CMD...: runs CMD until it succeeds, for 60 s at most.
until_ok() {
  local what=$1 end=$((SECONDS + 60))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "gap: no $what within 60 s; logs in $dir" >&2
      exit 1
    fi
    sleep 0.02
  done
}
for gap in "$@"; do
  dir=$(mktemp -d); addr=127.0.0.1:$((18100 + RANDOM % 800))
  serve=("$bin" serve --addr "$addr" --data-dir "$dir" --sse-retry "${retry}ms")
  "${serve[@]}" >"$dir/m1.log" 2>&1 & pid=$!
  until_ok "mooring on $addr" curl -s -o /dev/null "http://$addr/healthz"
  node "$root/bench/reconnect/gap.mjs" "http://$addr/mcp" >"$dir/client.log" 2>&1 & client=$!
  until_ok "progress at the client" grep -qs PROGRESS "$dir/client.log"
  kill -9 $pid; wait $pid 2>/dev/null || true
  killed=$(date +%s.%N)
  sleep "$gap"
  "${serve[@]}" >"$dir/m2.log" 2>&1 & pid=$!
  until_ok "mooring back on $addr" curl -s -o /dev/null "http://$addr/healthz"
  up=$(date +%s.%N)
  wait $client || true
  printf 'retry %sms, down %.2fs: %s\n' "$retry" "$(echo "$up - $killed" | bc)" "$(grep -E 'RESULT|ERROR' "$dir/client.log")"
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
done
