#!/usr/bin/env bash
# Flood benchmark of the token endpoint: 100 connections of bogus client
# secrets against POST /token while a legitimate confidential client
# authenticates, on the release binary `authstore serve` with real argon2id
# defaults (19,456 KiB, 2 passes) and every other setting at its default.
#
# For each variant the script starts a fresh server (memory store) from a
# config file it writes, then:
#   1. in the same-id variant only, the legitimate client authenticates once
#      (client_credentials, the right secret), as a running service would
#      have before the flood; in every other variant its first request of
#      step 3 is its first authentication to this server process;
#   2. the flood starts: wrk, CONNECTIONS connections, client_credentials with
#      a wrong secret over HTTP Basic, from 127.0.0.1;
#   3. after FLOOD_HEAD seconds the legitimate client sends LEGIT_REQUESTS
#      client_credentials requests with the right secret, one after the other
#      on one keep-alive connection, at most LEGIT_RATE per second, from
#      another loopback address (127.0.0.2, so per-IP limits tell the two
#      apart; no proxy header is involved);
#   4. it reports the legitimate client's first-request latency, p50, p99 and
#      max, its status mix, the flood's status mix and request rate, and the
#      1-minute load average before the run.
#
# Variants (VARIANTS, comma-separated):
#   none          no flood (the baseline; cold)
#   unknown-id    the flood names a client id that does not exist (cold)
#   other-id      the flood names another confidential client's id (cold)
#   same-id       the flood names the legitimate client's own id (warm)
#   same-id-cold  the same, but the legitimate client never authenticated before
#
# Usage: bash benches/peers/flood-bench.sh [PATH_TO_AUTHSTORE_BINARY]
#   (default: target/release/authstore; build it with
#    cargo build --release -p authstore-server --bin authstore)
# Environment:
#   DURATION=          flood length, seconds (default: FLOOD_HEAD + LEGIT_REQUESTS / LEGIT_RATE + 8,
#                      so the flood outlasts the legitimate requests; a row where it did not is marked)
#   CONNECTIONS=100    flood connections (wrk -c)
#   THREADS=2          wrk threads
#   FLOOD_HEAD=2       seconds of flood before the legitimate client starts
#   LEGIT_REQUESTS=300 legitimate requests per variant
#   LEGIT_RATE=20      their rate limit, requests per second (curl --rate)
#   VARIANTS=none,unknown-id,other-id,same-id,same-id-cold
#   LABEL=             a name for this binary in the output table
#
# Everything listens on 127.0.0.1 (a free port) and is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-$ROOT/target/release/authstore}
CONNECTIONS=${CONNECTIONS:-100}
THREADS=${THREADS:-2}
FLOOD_HEAD=${FLOOD_HEAD:-2}
LEGIT_REQUESTS=${LEGIT_REQUESTS:-300}
LEGIT_RATE=${LEGIT_RATE:-20}
DURATION=${DURATION:-$((FLOOD_HEAD + (LEGIT_REQUESTS + LEGIT_RATE - 1) / LEGIT_RATE + 8))}
VARIANTS=${VARIANTS:-none,unknown-id,other-id,same-id,same-id-cold}
LABEL=${LABEL:-$(basename "$(dirname "$(dirname "$BIN")")")}

log() { echo "flood-bench: $*" >&2; }
die() { log "$*"; exit 1; }

[[ -x $BIN ]] || die "no authstore binary at $BIN (cargo build --release -p authstore-server --bin authstore)"
command -v curl >/dev/null || die "curl is needed"
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }
fi
for v in DURATION CONNECTIONS THREADS FLOOD_HEAD LEGIT_REQUESTS LEGIT_RATE; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive whole number"
done

WORK=$(mktemp -d)
SERVER_PID=""
FLOOD_PID=""
cleanup() {
  [[ -n $FLOOD_PID ]] && kill "$FLOOD_PID" 2>/dev/null || true
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

LEGIT_ID=svc
LEGIT_SECRET=legitimate-client-secret-0123456789abcdef
OTHER_ID=other-svc
OTHER_SECRET=another-client-secret-0123456789abcdefgh

start_server() {
  local port=$1
  cat >"$WORK/config.toml" <<EOF
store = "memory://"
listen = "127.0.0.1:$port"
issuer = "http://127.0.0.1:$port"

[[clients]]
name = "legitimate service"
client_id = "$LEGIT_ID"
secret = "$LEGIT_SECRET"
grant_types = ["client_credentials"]
scopes = ["read"]

[[clients]]
name = "another service"
client_id = "$OTHER_ID"
secret = "$OTHER_SECRET"
grant_types = ["client_credentials"]
scopes = ["read"]
EOF
  RUST_LOG=${RUST_LOG:-error} "$BIN" serve --config "$WORK/config.toml" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server exited"; }
    sleep 0.05
  done
  die "the server did not start"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# One legitimate request; prints "status seconds".
legit_once() {
  curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code} %{time_total}\n' \
    -u "$LEGIT_ID:$LEGIT_SECRET" -d grant_type=client_credentials "http://127.0.0.1:$1/token"
}

# LEGIT_REQUESTS legitimate requests on one connection; prints "status seconds" lines.
legit_run() {
  local port=$1 i
  {
    for i in $(seq 1 "$LEGIT_REQUESTS"); do
      [[ $i -gt 1 ]] && echo next
      echo "url = \"http://127.0.0.1:$port/token\""
      echo "user = \"$LEGIT_ID:$LEGIT_SECRET\""
      echo 'data = "grant_type=client_credentials"'
      echo 'output = "/dev/null"'
      echo 'write-out = "%{http_code} %{time_total}\n"'
    done
  } >"$WORK/legit.curl"
  curl -s --interface 127.0.0.2 --rate "$LEGIT_RATE/s" -K "$WORK/legit.curl"
}

# "p50 p99 max" in milliseconds of the second column of stdin.
percentiles() {
  awk '{print $2 * 1000}' | sort -n | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- - -"; exit }
      i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
      printf "%.1f %.1f %.1f\n", v[i50], v[i99], v[NR]
    }'
}

# "200:N 429:M ..." of the first column of stdin.
status_mix() {
  awk '{c[$1]++} END {for (s in c) printf "%s:%d ", s, c[s]}' | sed 's/ $//'
}

printf '| binary | variant | load avg (1 min) | legit first request (ms) | legit p50 (ms) | legit p99 (ms) | legit max (ms) | legit statuses | flood req/s | flood statuses |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
IFS=, read -ra VARIANT_LIST <<<"$VARIANTS"
for variant in "${VARIANT_LIST[@]}"; do
  port=$(free_port)
  start_server "$port"
  case $variant in
    none) flood_id="" ;;
    unknown-id) flood_id=no-such-client ;;
    other-id) flood_id=$OTHER_ID ;;
    same-id | same-id-cold) flood_id=$LEGIT_ID ;;
    *) die "unknown variant $variant" ;;
  esac
  load=$(cut -d' ' -f1 /proc/loadavg)
  if [[ $variant == same-id ]]; then
    warm=$(legit_once "$port")
    [[ ${warm%% *} == 200 ]] || die "$variant: the legitimate client's warm-up failed: $warm"
  fi
  if [[ -n $flood_id ]]; then
    FLOOD_BASIC=$(printf '%s' "$flood_id:not-the-secret" | base64 -w0) \
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/flood.lua" \
      "http://127.0.0.1:$port/token" >"$WORK/flood.out" 2>&1 &
    FLOOD_PID=$!
    sleep "$FLOOD_HEAD"
  fi
  legit_run "$port" >"$WORK/legit.out"
  outlasted=""
  if [[ -n $FLOOD_PID ]] && ! kill -0 "$FLOOD_PID" 2>/dev/null; then
    outlasted=" (the flood ended before the legitimate requests: raise DURATION)"
  fi
  first=$(head -1 "$WORK/legit.out" | awk '{printf "%.1f", $2 * 1000}')
  read -r p50 p99 max < <(percentiles <"$WORK/legit.out")
  legit_mix=$(status_mix <"$WORK/legit.out")
  flood_rate="-"; flood_mix="-"
  if [[ -n $FLOOD_PID ]]; then
    wait "$FLOOD_PID" || true
    FLOOD_PID=""
    flood_rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/flood.out")
    flood_mix=$(awk '/^status / {printf "%s:%s ", $2, $3}' "$WORK/flood.out" | sed 's/ $//')
    errors=$(awk '/^errors / {print $2}' "$WORK/flood.out")
    [[ ${errors:-0} == 0 ]] || flood_mix="$flood_mix errors:$errors"
    flood_mix="$flood_mix$outlasted"
  fi
  stop_server
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$LABEL" "$variant" "$load" "$first" "$p50" "$p99" "$max" "$legit_mix" "$flood_rate" "$flood_mix"
done
