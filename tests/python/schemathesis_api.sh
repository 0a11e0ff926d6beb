#!/usr/bin/env bash
# Runs schemathesis against /openapi.json of a running `tickstream serve` and fails on any finding.
# /v1/stream is left out: it is a WebSocket upgrade, which an HTTP fuzzer cannot hold open; the Rust tests
# (crates/api/tests/stream.rs) cover it over a real socket. Starts the server itself on a free 127.0.0.1 port, with a fresh key file and a key holding every scope.
#
# Needs: TICKSTREAM_PYTHON (a venv python with `schemathesis` installed), the tickstream binary
# (TICKSTREAM_BIN, default $CARGO_TARGET_DIR/debug/tickstream), and optionally REDIS_URL to serve from Redis
# instead of the embedded cache.
set -euo pipefail

python="${TICKSTREAM_PYTHON:?TICKSTREAM_PYTHON must point at the venv python with schemathesis}"
bin="${TICKSTREAM_BIN:-${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR or TICKSTREAM_BIN}/debug/tickstream}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tickstream-schemathesis.XXXXXX")"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
key="$("$bin" keys --keys "$work/keys.json" create --name schemathesis --scopes read,stream,admin --tier pro)"
redis_args=()
if [ -n "${REDIS_URL:-}" ]; then redis_args=(--redis-url "$REDIS_URL"); fi
"$bin" serve --keys "$work/keys.json" --listen "127.0.0.1:$port" "${redis_args[@]}" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cd "$work" # schemathesis keeps its state in .schemathesis/ of the working directory
"$python" -m schemathesis.cli run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $key" \
  --exclude-path /v1/stream \
  --max-examples 50 \
  --seed 1 \
  || { echo "schemathesis found problems; server log:" >&2; tail -50 "$work/serve.log" >&2; exit 1; }
