#!/usr/bin/env bash
# Flood benchmark of the token endpoint: 100 connections of bogus client
# secrets against POST /token while legitimate confidential clients
# authenticate, on the release binary `authstore serve` with real argon2id
# defaults (19,456 KiB, 2 passes) and every other setting at its default.
#
# For each variant the script starts a fresh server (memory store) from a
# config file it writes (LEGIT_CLIENTS + 2 confidential clients, each
# client_credentials only), then:
#   1. the remembered client `svc` authenticates once (client_credentials, the
#      right secret), as a running service would have before the flood;
#   2. the flood starts: wrk, CONNECTIONS connections, client_credentials with
#      a wrong secret over HTTP Basic, from 127.0.0.1, until step 3 is done;
#   3. after FLOOD_HEAD seconds, from another loopback address (127.0.0.2, so
#      that per-IP limits tell the two apart; no proxy header is involved), one
#      after the other on one keep-alive connection, at most LEGIT_RATE per
#      second:
#      a. first authentications: each of the LEGIT_CLIENTS clients `new-1`,
#         `new-2`, ... authenticates once, for the first time in this server
#         process, so each one needs an argon2id verification;
#      b. the remembered client `svc` authenticates LEGIT_REQUESTS times;
#   4. it reports p50, p99 and max latency and the status mix of 3a and 3b, the
#      flood's status mix and request rate, the 1-minute load average before
#      the variant (which includes the previous variant's own load), and the
#      CPU that processes other than the server and wrk used during step 3
#      (cores, from /proc/stat; it includes curl and the kernel's loopback
#      work, so about 0.1-0.3 is the benchmark itself; more means the machine
#      was not idle: measure again).
#
# Variants (VARIANTS, comma-separated):
#   none        no flood (the baseline)
#   unknown-id  the flood names a client id that does not exist
#   other-id    the flood names another confidential client's id (`other-svc`)
#   same-id     the flood names the remembered client's own id (`svc`)
#   new-id      the flood names `new-1`, whose first authentication comes first in 3a
#
# Usage: bash benches/peers/flood-bench.sh [PATH_TO_AUTHSTORE_BINARY]
#   (default: target/release/authstore; build it with
#    cargo build --release -p authstore-server --bin authstore)
# Environment:
#   CONNECTIONS=100    flood connections (wrk -c)
#   THREADS=2          wrk threads
#   FLOOD_HEAD=2       seconds of flood before the legitimate clients start
#   LEGIT_CLIENTS=50   first authentications per variant (3a)
#   LEGIT_REQUESTS=200 requests of the remembered client per variant (3b)
#   LEGIT_RATE=20      legitimate requests per second at most (curl --rate)
#   MAX_DURATION=900   the flood stops (SIGINT to wrk) once 3a and 3b are done,
#                      or after this many seconds (a row where it ended first is marked)
#   VARIANTS=none,unknown-id,other-id,same-id,new-id
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
LEGIT_CLIENTS=${LEGIT_CLIENTS:-50}
LEGIT_REQUESTS=${LEGIT_REQUESTS:-200}
LEGIT_RATE=${LEGIT_RATE:-20}
MAX_DURATION=${MAX_DURATION:-900}
VARIANTS=${VARIANTS:-none,unknown-id,other-id,same-id,new-id}
LABEL=${LABEL:-$BIN}

log() { echo "flood-bench: $*" >&2; }
die() { log "$*"; exit 1; }

[[ -x $BIN ]] || die "no authstore binary at $BIN (cargo build --release -p authstore-server --bin authstore)"
command -v curl >/dev/null || die "curl is needed"
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }
fi
for v in CONNECTIONS THREADS FLOOD_HEAD LEGIT_CLIENTS LEGIT_REQUESTS LEGIT_RATE MAX_DURATION; do
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

# Every client's secret: its id, padded to 40 characters.
secret_of() { printf '%s-secret-0123456789abcdefghijklmnopqrstuvwxyz' "$1" | cut -c1-40; }

write_config() {
  local port=$1 id
  {
    echo 'store = "memory://"'
    echo "listen = \"127.0.0.1:$port\""
    echo "issuer = \"http://127.0.0.1:$port\""
    for id in svc other-svc $(seq -f 'new-%g' 1 "$LEGIT_CLIENTS"); do
      echo
      echo '[[clients]]'
      echo "name = \"$id\""
      echo "client_id = \"$id\""
      echo "secret = \"$(secret_of "$id")\""
      echo 'grant_types = ["client_credentials"]'
      echo 'scopes = ["read"]'
    done
  } >"$WORK/config.toml"
}

start_server() {
  local port=$1
  write_config "$port"
  RUST_LOG=${RUST_LOG:-error} "$BIN" serve --config "$WORK/config.toml" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 1200); do
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

# A curl config block: one client_credentials request of client $2 to port $1.
request_block() {
  echo "url = \"http://127.0.0.1:$1/token\""
  echo "user = \"$2:$(secret_of "$2")\""
  echo 'data = "grant_type=client_credentials"'
  echo 'output = "/dev/null"'
  echo 'write-out = "%{http_code} %{time_total}\n"'
}

# Requests of the clients named on stdin, in turn on one connection from
# 127.0.0.2; prints "status seconds" lines.
legit() {
  local port=$1 id first=1
  while read -r id; do
    [[ $first == 1 ]] || echo next
    first=0
    request_block "$port" "$id"
  done >"$WORK/legit.curl"
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

# Busy CPU ticks of the whole machine (/proc/stat: all but idle and iowait).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# CPU ticks (user + system) of the processes named by PID, 0 for gone ones.
process_ticks() {
  local pid total=0
  for pid in "$@"; do
    [[ -n $pid && -r /proc/$pid/stat ]] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

# "200:N 429:M ..." of the first column of stdin.
status_mix() {
  awk '{c[$1]++} END {for (s in c) printf "%s:%d ", s, c[s]}' | sed 's/ $//'
}

printf '| binary | variant | load avg (1 min) | other processes (cores) | first auth p50 / p99 / max (ms) | first auth statuses | remembered p50 / p99 / max (ms) | remembered statuses | flood req/s | flood statuses |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
IFS=, read -ra VARIANT_LIST <<<"$VARIANTS"
for variant in "${VARIANT_LIST[@]}"; do
  case $variant in
    none) flood_id="" ;;
    unknown-id) flood_id=no-such-client ;;
    other-id) flood_id=other-svc ;;
    same-id) flood_id=svc ;;
    new-id) flood_id=new-1 ;;
    *) die "unknown variant $variant" ;;
  esac
  port=$(free_port)
  start_server "$port"
  load=$(cut -d' ' -f1 /proc/loadavg)
  warm=$(echo svc | legit "$port")
  [[ ${warm%% *} == 200 ]] || die "$variant: the remembered client's first authentication failed: $warm"
  if [[ -n $flood_id ]]; then
    FLOOD_BASIC=$(printf '%s' "$flood_id:not-the-secret" | base64 -w0) \
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"${MAX_DURATION}s" -s "$HERE/flood.lua" \
      "http://127.0.0.1:$port/token" >"$WORK/flood.out" 2>&1 &
    FLOOD_PID=$!
    sleep "$FLOOD_HEAD"
  fi
  t0=$(date +%s.%N); m0=$(machine_ticks); p0=$(process_ticks "$SERVER_PID" "$FLOOD_PID")
  seq -f 'new-%g' 1 "$LEGIT_CLIENTS" | legit "$port" >"$WORK/first.out"
  seq "$LEGIT_REQUESTS" | sed "s/.*/svc/" | legit "$port" >"$WORK/remembered.out"
  t1=$(date +%s.%N); m1=$(machine_ticks); p1=$(process_ticks "$SERVER_PID" "$FLOOD_PID")
  others=$(awk -v m="$((m1 - m0))" -v p="$((p1 - p0))" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { o = (m - p) / hz / (t1 - t0); printf "%.2f", (o < 0 ? 0 : o) }')
  outlasted=""
  if [[ -n $FLOOD_PID ]] && ! kill -0 "$FLOOD_PID" 2>/dev/null; then
    outlasted=" (the flood ended before the legitimate requests: raise MAX_DURATION)"
  fi
  read -r f50 f99 fmax < <(percentiles <"$WORK/first.out")
  read -r r50 r99 rmax < <(percentiles <"$WORK/remembered.out")
  flood_rate="-"; flood_mix="-"
  if [[ -n $FLOOD_PID ]]; then
    kill -INT "$FLOOD_PID" 2>/dev/null || true
    wait "$FLOOD_PID" || true
    FLOOD_PID=""
    flood_rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/flood.out")
    flood_mix=$(awk '/^status / {printf "%s:%s ", $2, $3}' "$WORK/flood.out" | sed 's/ $//')
    errors=$(awk '/^errors / {print $2}' "$WORK/flood.out")
    [[ ${errors:-0} == 0 ]] || flood_mix="$flood_mix errors:$errors"
    flood_mix="$flood_mix$outlasted"
  fi
  stop_server
  printf '| %s | %s | %s | %s | %s / %s / %s | %s | %s / %s / %s | %s | %s | %s |\n' \
    "$LABEL" "$variant" "$load" "$others" "$f50" "$f99" "$fmax" "$(status_mix <"$WORK/first.out")" \
    "$r50" "$r99" "$rmax" "$(status_mix <"$WORK/remembered.out")" "$flood_rate" "$flood_mix"
done
