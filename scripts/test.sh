#!/usr/bin/env bash
# THE test command: installs what is missing, then runs every check.
#   1. scripts/setup.sh       (redis, Node 22, the conformance suite)
#   2. go vet ./...
#   3. gofmt -l               (fails listing unformatted files)
#   4. go test -race -count=1 -timeout 25m ./...
#   5. scripts/conformance.sh (skipped with SKIP_CONFORMANCE=1)
# Steps 2-5 all run even if one fails; the exit code is non-zero if any failed.
# Functions below are called indirectly (step, trap), which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RESULTS=()
FAILED=0
CONFORMANCE_LINE=""

step() {
  local name="$1"
  shift
  printf '\n==> %s\n' "$name"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    RESULTS+=("ok    $name (${took}s)")
  else
    RESULTS+=("FAIL  $name (exit $rc, ${took}s)")
    FAILED=1
  fi
  return 0
}

gofmt_check() {
  local files
  # gofmt -l lists nothing for a file it cannot parse, only exits non-zero.
  files="$(find . -name '*.go' -not -path './.git/*' -not -path './.tools/*' \
    -not -path '*/node_modules/*' -print0 | xargs -0 -r gofmt -l)" || {
    echo "gofmt: failed (a file it cannot parse?)"
    return 1
  }
  if [ -n "$files" ]; then
    echo "gofmt: these files need formatting (gofmt -w FILE):"
    while IFS= read -r f; do echo "  $f"; done <<<"$files"
    return 1
  fi
  echo "gofmt: all files formatted"
}

go_test() {
  command -v redis-server >/dev/null 2>&1 || { echo "redis-server is not on PATH"; return 1; }
  # Tests append their measured counts (the chaos suites') to this file:
  # go test hides the output of packages that pass.
  MOORING_TEST_REPORT="$(mktemp)"
  export MOORING_TEST_REPORT
  local rc=0
  # e2e alone takes about 5 min here (under -race on a loaded 2-core
  # machine), half of go test's default 10-minute limit per package: a
  # slower CI machine must not fail it for time alone.
  go test -race -count=1 -timeout 25m ./... || rc=$?
  if [ -s "$MOORING_TEST_REPORT" ]; then
    echo "measured by the tests:"
    sed 's/^/  /' "$MOORING_TEST_REPORT"
  fi
  rm -f "$MOORING_TEST_REPORT"
  return "$rc"
}

conformance() {
  local out rc=0
  out="$(mktemp)"
  "$ROOT/scripts/conformance.sh" | tee "$out" || rc=$?
  CONFORMANCE_LINE="$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)"
  rm -f "$out"
  return "$rc"
}

# fuzz runs each fuzz target a few seconds past its seed corpus (which the
# go test step runs already). Each runs a number of inputs (about 5 s here)
# rather than a duration: when a duration ends while an input runs, go test
# reports "context deadline exceeded" as a failure. FUZZTIME (e.g. 30s or
# 100000x) replaces them all. A failing input is written to the package's
# testdata/fuzz: commit it with the fix. go test passes when -fuzz names
# no target (a renamed one): that fails the step here.
fuzz() {
  local rc=0 t pkg name runs log
  log="$(mktemp)"
  local targets=(
    "./transport FuzzDecodeMessage 40000x"
    "./transport FuzzSSEFrame 50000x"
    "./transport FuzzHandler 8000x"
    "./store FuzzParseEventID 200000x"
    "./session FuzzUnmarshalRecord 50000x"
    "./cmd/mooring FuzzConfigFile 1000x"
  )
  for t in "${targets[@]}"; do
    read -r pkg name runs <<<"$t"
    runs="${FUZZTIME:-$runs}"
    echo "fuzz: $name in $pkg, $runs"
    go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$runs" 2>&1 | tee "$log" || rc=1
    if grep -q 'no fuzz tests to fuzz' "$log"; then
      echo "fuzz: $pkg has no $name (renamed? update the list in scripts/test.sh)"
      rc=1
    fi
  done
  rm -f "$log"
  return "$rc"
}

printf '==> setup\n'
if ! "$ROOT/scripts/setup.sh"; then
  echo "test: setup failed; nothing else can run" >&2
  exit 1
fi
RESULTS+=("ok    setup")

step "go vet" go vet ./...
step "gofmt" gofmt_check
step "go test -race" go_test
step "fuzz" fuzz
if [ "${SKIP_CONFORMANCE:-0}" = 1 ]; then
  RESULTS+=("skip  conformance (SKIP_CONFORMANCE=1)")
else
  step "conformance" conformance
fi

printf '\n==> summary\n'
printf '  %s\n' "${RESULTS[@]}"
if [ "$FAILED" -ne 0 ]; then
  echo "test: FAILED"
else
  echo "test: all steps passed"
fi
# Repeat the suite's closing line so it is the last thing printed.
if [ -n "$CONFORMANCE_LINE" ]; then
  echo "$CONFORMANCE_LINE"
fi
exit "$FAILED"
