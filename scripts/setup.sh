#!/usr/bin/env bash
# Installs everything idflow's local stack and tests need, from the package registries only.
# Idempotent: each step checks what is already there and does nothing when it is current.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools"
mkdir -p "$tools/bin"
started=$(date +%s)
say() { printf 'setup: %s\n' "$*" >&2; }

temporal_version=1.5.1

# --- Node ----------------------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then say "Node >= 20 is required (found $(node --version))"; exit 1; fi
lock_stamp="$tools/npm.stamp"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_hash" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$lock_stamp"
fi

# --- Temporal CLI v1.5.1 -------------------------------------------------------------------
# A release binary says "temporal version 1.5.1"; one built by go install says 0.0.0-DEV but records its module version.
is_wanted_temporal() {
  [ -x "$1" ] || return 1
  "$1" --version 2>/dev/null | grep -q "version $temporal_version " && return 0
  command -v go >/dev/null && go version -m "$1" 2>/dev/null | grep -qE "^\s+mod\s+github.com/temporalio/cli\s+v$temporal_version\s"
}
temporal_link="$tools/bin/temporal"
if ! is_wanted_temporal "$temporal_link"; then
  candidate=""
  if [ -n "${TEMPORAL_CLI_PATH:-}" ] && is_wanted_temporal "$TEMPORAL_CLI_PATH"; then candidate=$TEMPORAL_CLI_PATH
  elif command -v temporal >/dev/null && is_wanted_temporal "$(command -v temporal)"; then candidate=$(command -v temporal)
  fi
  if [ -n "$candidate" ]; then
    ln -sf "$candidate" "$temporal_link"
  else
    if ! command -v go >/dev/null; then say "Go >= 1.25 is needed to build the Temporal CLI (or set TEMPORAL_CLI_PATH to a temporal $temporal_version binary)"; exit 1; fi
    go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
    if [ "$go_minor" -lt 25 ]; then say "Go >= 1.25 is needed to build Temporal CLI $temporal_version; found $(go env GOVERSION)"; exit 1; fi
    say "building Temporal CLI $temporal_version with go install (a few minutes the first time)"
    rm -f "$temporal_link"
    GOBIN="$tools/bin" GOTOOLCHAIN=local GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@v$temporal_version"
  fi
  is_wanted_temporal "$temporal_link" || { say "Temporal CLI at $temporal_link is not version $temporal_version"; exit 1; }
fi

# --- Python venv: moto (AWS IAM), scim2-server (SCIM 2.0), msgraph-sdk + azure-identity -------
# Everything comes from python/requirements.txt, every version pinned by python/constraints.txt;
# a change to either file (their hash, kept in .tools/python.stamp) installs again.
venv="$tools/venv"
py_stamp="$tools/python.stamp"
py_hash=$(cat python/requirements.txt python/constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/scim2-server" ] || [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_hash" ]; then
  python=${PYTHON:-python3}
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { say "Python >= 3.11 is required for scim2-server"; exit 1; }
  [ -x "$venv/bin/python" ] || { say "creating Python venv in .tools/venv"; "$python" -m venv "$venv"; }
  say "installing python/requirements.txt (moto[server], scim2-server, msgraph-sdk, azure-identity) into .tools/venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r python/requirements.txt -c python/constraints.txt
  echo "$py_hash" > "$py_stamp"
fi

elapsed=$(( $(date +%s) - started ))
[ "$elapsed" -gt 2 ] && say "ready in ${elapsed}s"
exit 0
