#!/usr/bin/env bash
# What OAuth clients see when the store of `authstore serve` dies mid-flow
# and comes back.
#
# For each store (Redis, then PostgreSQL) it starts a private server on a free
# loopback port, two `authstore serve` processes on free ports sharing it (one
# config file: users, a public client, a trusted introspector; one form key, so
# either process answers any page), and the load generator
# crates/authstore-server/examples/fault_load (real code flows: sign-in and
# consent pages, PKCE, code exchange, refresh rotation, introspection,
# revocation, and replays of redeemed codes and rotated refresh tokens),
# round-robin over both processes. KILL_AT seconds into the run it kills the
# store without warning, restarts it on the same port and data OUTAGE seconds
# later, and lets the load go on. The generator then introspects every token
# the servers acknowledged and prints its tables and JSON summary; this script
# adds the panics found in the server logs and prints one report per store.
#
#   Redis: redis-server --appendonly yes --appendfsync always (nothing
#          acknowledged is lost), killed with kill -9, restarted on its AOF.
#   PostgreSQL: initdb in a temp dir (fsync on), stopped with
#          pg_ctl stop -m immediate (a crash: WAL replay at the next start).
#
# Usage: bash benches/fault/serve-store-failure.sh
# Environment:
#   STORES=redis,postgres  stores to test, in order
#   SHORT=1                a quick run: DURATION=20 OUTAGE=3 KILL_AT=6 RATE=150
#                          WORKERS=8 REFRESH_GRACE=2s (well under 2 min for
#                          both stores once built)
#   DURATION=60            seconds of load
#   OUTAGE=10              seconds the store stays down
#   KILL_AT=DURATION/3     seconds into the run when the store is killed
#   RATE=auto              requests/s over all workers; "auto": 70% of the rate
#                          measured by an unpaced CALIBRATE-second run first
#   CALIBRATE=10           seconds of that calibration run
#   WORKERS=16             concurrent flows
#   REFRESH_GRACE=10s      the servers' [tokens] refresh_grace (their default)
#   LOAD_PROFILE=release   the load generator's cargo profile; "debug" reuses the
#                          dependencies a test build compiled (building the
#                          example in release also builds the crate's
#                          dev-dependencies in release). The server is always release.
#   SKIP_BUILD=1           use the binaries already built
#   KEEP_WORK=1            keep the work directory (logs, JSON) and print its path
#
# Exit status: 0 when every store's run had no violation and no server log
# says "panicked"; 1 otherwise. Everything listens on 127.0.0.1 only, never on
# 6379 or 5432, and is stopped on exit.
set -euo pipefail

SHORT=${SHORT:-0}
if [[ $SHORT == 1 ]]; then
  DURATION=${DURATION:-20} OUTAGE=${OUTAGE:-3} KILL_AT=${KILL_AT:-6}
  RATE=${RATE:-150} WORKERS=${WORKERS:-8} REFRESH_GRACE=${REFRESH_GRACE:-2s}
fi
STORES=${STORES:-redis,postgres}
DURATION=${DURATION:-60}
OUTAGE=${OUTAGE:-10}
KILL_AT=${KILL_AT:-$((DURATION / 3))}
RATE=${RATE:-auto}
CALIBRATE=${CALIBRATE:-10}
WORKERS=${WORKERS:-16}
REFRESH_GRACE=${REFRESH_GRACE:-10s}
USERS=$WORKERS

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET_DIR/release/authstore"
LOAD_PROFILE=${LOAD_PROFILE:-release}
LOAD="$TARGET_DIR/$LOAD_PROFILE/examples/fault_load"

log() { echo "serve-store-failure: $*" >&2; }
die() { log "$*"; exit 1; }
for v in DURATION OUTAGE KILL_AT CALIBRATE WORKERS; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a whole number (> 0)"
done
[[ $RATE == auto || $RATE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "RATE must be a number or auto"
[[ $LOAD_PROFILE == release || $LOAD_PROFILE == debug ]] || die "LOAD_PROFILE must be release or debug"
((KILL_AT + OUTAGE < DURATION)) || die "KILL_AT + OUTAGE must be less than DURATION"
[[ $REFRESH_GRACE =~ ^[0-9]+s$ ]] || die "REFRESH_GRACE must be whole seconds, e.g. 10s"
for s in ${STORES//,/ }; do
  case $s in redis | postgres) ;; *) die "unknown store $s (redis, postgres)" ;; esac
done
for tool in curl openssl; do command -v "$tool" >/dev/null || die "$tool is missing"; done
if [[ ,$STORES, == *,redis,* ]]; then
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server and redis-cli are needed (Debian package redis-server)"
fi

# PostgreSQL's server programs: `pg_config --bindir`, else the newest
# /usr/lib/postgresql/N/bin, else PATH (as the testkit's harness looks).
pg_bindir() {
  local d
  if command -v pg_config >/dev/null; then
    d=$(pg_config --bindir 2>/dev/null || true)
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return; }
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return; }
  done
  d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return; }
  return 1
}
PG_BIN="" PG_USER=""
if [[ ,$STORES, == *,postgres,* ]]; then
  PG_BIN=$(pg_bindir) || die "PostgreSQL's initdb, pg_ctl and postgres were not found (Debian package postgresql)"
  # initdb refuses to run as root: run the server as `postgres` then.
  if [[ $(id -u) == 0 ]]; then
    id -u postgres >/dev/null 2>&1 || die "running as root needs a postgres user to run PostgreSQL"
    command -v runuser >/dev/null || die "running as root needs runuser (util-linux)"
    PG_USER=postgres
  fi
fi
as_pg() { if [[ -n $PG_USER ]]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }

# ---- build ------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building the release binary and the load generator ($LOAD_PROFILE)"
  if [[ $LOAD_PROFILE == release ]]; then
    (cd "$ROOT" && cargo build --release -p authstore-server --bin authstore --example fault_load >&2)
  else
    (cd "$ROOT" && cargo build --release -p authstore-server --bin authstore >&2)
    (cd "$ROOT" && cargo build -p authstore-server --example fault_load >&2)
  fi
fi
[[ -x $BIN && -x $LOAD ]] || die "$BIN or $LOAD is missing (build them, or unset SKIP_BUILD)"

# ---- cleanup ----------------------------------------------------------------
WORK=$(mktemp -d /tmp/serve-store-failure.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_DATA=""
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [[ ${KEEP_WORK:-0} == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/serve.sh"
now_ms() { date +%s%3N; }

# ---- config -----------------------------------------------------------------
serve_secrets
CONFIG="$WORK/authstore.toml"
serve_config "$CONFIG" "$USERS" "$REFRESH_GRACE" benches/fault/serve-store-failure.sh

# ---- stores -----------------------------------------------------------------
STORE_PID="" STORE_PORT="" STORE_DIR="" STORE_URL=""
redis_start() {
  redis-server --port "$STORE_PORT" --bind 127.0.0.1 --dir "$STORE_DIR" \
    --appendonly yes --appendfsync always --save "" --daemonize no \
    --logfile "$STORE_DIR/redis.log" >/dev/null 2>&1 &
  STORE_PID=$!
  PIDS+=("$STORE_PID")
}
redis_ready() { [[ $(redis-cli -p "$STORE_PORT" ping 2>/dev/null || true) == PONG ]]; }
redis_kill() { kill -9 "$STORE_PID"; wait "$STORE_PID" 2>/dev/null || true; }

pg_start() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$STORE_DIR/postgres.log" -w -t 60 start >/dev/null; }
# Without waiting: the script itself polls for readiness, which pg_ctl -w
# notices only at its next check.
pg_launch() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$STORE_DIR/postgres.log" -W start >/dev/null; }
pg_ready() { as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$STORE_PORT" 2>/dev/null; }
pg_kill() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null; }

store_up() {
  local store=$1
  free_port STORE_PORT
  STORE_DIR="$WORK/$store"
  mkdir -p "$STORE_DIR"
  case $store in
    redis)
      redis_start
      STORE_URL="redis://127.0.0.1:$STORE_PORT"
      ;;
    postgres)
      [[ -n $PG_USER ]] && chown "$PG_USER:" "$STORE_DIR"
      PG_DATA="$STORE_DIR/data"
      as_pg "$PG_BIN/initdb" -D "$PG_DATA" -E UTF8 --locale=C --auth=trust -U postgres >"$STORE_DIR/initdb.log" 2>&1 ||
        { cat "$STORE_DIR/initdb.log" >&2; die "initdb failed"; }
      printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nmax_connections = 200\n" \
        "$STORE_PORT" "$STORE_DIR" >>"$PG_DATA/postgresql.conf"
      pg_start || { tail -20 "$STORE_DIR/postgres.log" >&2; die "PostgreSQL did not start"; }
      STORE_URL="postgres://postgres@127.0.0.1:$STORE_PORT/postgres"
      ;;
  esac
  wait_store "$store" 200 || die "$store did not answer on port $STORE_PORT"
}
store_ready() { case $1 in redis) redis_ready ;; postgres) pg_ready ;; esac; }
# wait_store STORE N: until the store answers, polling every 50 ms, at most N times.
wait_store() {
  for _ in $(seq 1 "$2"); do
    store_ready "$1" && return 0
    sleep 0.05
  done
  return 1
}
store_kill() { case $1 in redis) redis_kill ;; postgres) pg_kill ;; esac; }
store_restart() { case $1 in redis) redis_start ;; postgres) pg_launch ;; esac; }
store_down() {
  case $1 in
    redis) kill "$STORE_PID" 2>/dev/null || true; wait "$STORE_PID" 2>/dev/null || true ;;
    postgres) as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true; PG_DATA="" ;;
  esac
}

# ---- servers ----------------------------------------------------------------
SERVER_PIDS=() BASES=()
servers_up() {
  local store=$1 i pid base issuer_port
  SERVER_PIDS=() BASES=()
  free_port issuer_port
  for i in 1 2; do
    serve_start pid base "$WORK/$store-server$i.log" "$STORE_URL" "$CONFIG" "$issuer_port"
    SERVER_PIDS+=("$pid")
    BASES+=("$base")
  done
  for i in 0 1; do
    serve_wait "${SERVER_PIDS[$i]}" "${BASES[$i]}" "$WORK/$store-server$((i + 1)).log" "server $((i + 1))"
  done
}
servers_down() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SERVER_PIDS=()
}

# load ARGS…: the generator against both servers.
load() {
  local args=()
  for b in "${BASES[@]}"; do args+=(--base "$b"); done
  "$LOAD" "${args[@]}" --users "$USERS" --workers "$WORKERS" \
    --refresh-grace "${REFRESH_GRACE%s}" "$@"
}

# ---- runs -------------------------------------------------------------------
REPORTS=()
FAILED=0
for store in ${STORES//,/ }; do
  log "$store: starting a private server, two authstore serve processes on it"
  store_up "$store"
  servers_up "$store"
  rate=$RATE calibrated=""
  if [[ $RATE == auto ]]; then
    log "$store: measuring capacity: ${CALIBRATE}s unpaced, $WORKERS workers"
    if load --duration "$CALIBRATE" --json-out "$WORK/$store-calibrate.json" >"$WORK/$store-calibrate.txt" 2>&1; then
      calibrated=$(grep -m1 '"requests_per_sec"' "$WORK/$store-calibrate.json" | grep -oE '[0-9]+(\.[0-9]+)?')
    else
      log "$store: the calibration run reported violations:"
      grep -E '^requests |violation' "$WORK/$store-calibrate.txt" >&2 || true
      FAILED=1
      calibrated=$(grep -m1 '"requests_per_sec"' "$WORK/$store-calibrate.json" 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+)?' || echo 100)
    fi
    rate=$(awk -v r="$calibrated" 'BEGIN{printf "%.0f", r * 0.7}')
    log "$store: capacity ${calibrated%.*} requests/s; running at 70%: $rate/s"
  fi
  events="$WORK/$store-events.txt"
  : >"$events"
  log "$store: ${DURATION}s of load at $rate requests/s; store killed at +${KILL_AT}s for ${OUTAGE}s"
  load --rate "$rate" --duration "$DURATION" --events "$events" \
    --json-out "$WORK/$store.json" >"$WORK/$store.txt" 2>"$WORK/$store.err" &
  load_pid=$!
  PIDS+=("$load_pid")
  sleep "$KILL_AT"
  echo "kill $(now_ms)" >>"$events"
  store_kill "$store"
  log "$store: killed"
  sleep "$OUTAGE"
  echo "restart $(now_ms)" >>"$events"
  store_restart "$store"
  wait_store "$store" 1200 || die "$store did not come back"
  echo "ready $(now_ms)" >>"$events"
  log "$store: back"
  status=0
  wait "$load_pid" || status=$?
  servers_down
  panics=$(cat "$WORK/$store"-server*.log | grep -c panicked || true)
  store_down "$store"
  cat "$WORK/$store.txt"
  [[ -s $WORK/$store.err ]] && cat "$WORK/$store.err" >&2
  verdict="ok"
  if ((status != 0 || panics != 0)); then verdict="FAILED"; FAILED=1; fi
  REPORTS+=("$store: generator exit status $status, panics in server logs $panics${calibrated:+, measured capacity ${calibrated%.*} req/s}, run at $rate req/s: $verdict")
  errors=$(cat "$WORK/$store"-server*.log | grep -c ' ERROR ' || true)
  REPORTS+=("  $store: server log lines at ERROR: $errors (store failures are logged while it is down)")
  REPORTS+=("$(grep -A20 '^== key figures ==' "$WORK/$store.txt" | sed 's/^/  /' || true)")
done

echo
echo "== serve-store-failure: DURATION=${DURATION}s OUTAGE=${OUTAGE}s KILL_AT=+${KILL_AT}s WORKERS=$WORKERS REFRESH_GRACE=$REFRESH_GRACE =="
for r in "${REPORTS[@]}"; do echo "$r"; done
exit "$FAILED"
