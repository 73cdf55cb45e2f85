#!/usr/bin/env bash
# Peer benchmark of an authenticated request: authstore-axum's SessionLayer
# (memory store and Redis) against express-session + connect-redis on the same
# private Redis, measured with wrk on GET /me with a logged-in session cookie.
#
# Usage: benches/peers/session-bench.sh
# Environment:
#   DURATION=10s     measured wrk run per server
#   CONNECTIONS=64   wrk connections
#   THREADS=2        wrk threads
#   WARMUP=5s        unmeasured wrk run before each measured one (0 skips it)
#   TARGET=5         target ratio authstore-axum on Redis / express-session on Redis
#   EXPRESS_TOUCH=1  also measure express-session with connect-redis's default touch (0 skips)
#   IDLE_MAX=0.16    busy cores (over 3 s) below which the machine counts as idle
#   WAIT_IDLE=600    seconds to wait for an idle machine before measuring anyway
#   DISTURBED=0.10   other processes' cores during a case above which its row is marked ⚠
#   SIGNED=1         also measure authstore-axum on Redis with a signed cookie, as express-session's (0 skips)
#   BASELINES=1      also measure /hello (same servers, outside the session layer) (0 skips)
#
# Everything it starts (redis-server, the servers) listens on 127.0.0.1 only,
# on free ports (never 6379), and is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-5s}
TARGET=${TARGET:-5}
EXPRESS_TOUCH=${EXPRESS_TOUCH:-1}
IDLE_MAX=${IDLE_MAX:-0.16}
WAIT_IDLE=${WAIT_IDLE:-600}
DISTURBED=${DISTURBED:-0.10}
BASELINES=${BASELINES:-1}
SIGNED=${SIGNED:-1}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LUA="$HERE/session.lua"
EXPRESS_DIR="$HERE/express-session"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_BIN="$TARGET_DIR/release/examples/bench_server"

log() { echo "session-bench: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- tools ------------------------------------------------------------------
apt_install() {
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get install -y "$@" >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y "$@" >&2; }
}
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  log "installing redis-server"
  apt_install redis-server
fi
command -v curl >/dev/null || { log "installing curl"; apt_install curl; }
command -v node >/dev/null || die "node (v20 or later) is missing"
command -v cargo >/dev/null || die "cargo is missing"

# ---- cleanup ----------------------------------------------------------------
WORK=$(mktemp -d /tmp/session-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"

# Waits until GET url answers with any HTTP status; fails if pid exits first.
wait_http() {
  local url=$1 pid=$2 logf=$3
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "server for $url exited"; }
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) != 000 ]] && return
    sleep 0.1
  done
  cat "$logf" >&2
  die "$url did not come up"
}

# utime + stime of a process (all its threads), in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# busy and total jiffies of the whole machine.
machine_ticks() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t-$5-$6, t}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# ---- build and install --------------------------------------------------------
log "building bench_server (release, authstore/redis)"
(cd "$ROOT" && cargo build --release -p authstore-axum --example bench_server --features authstore/redis >&2)
[[ -x $SERVER_BIN ]] || die "$SERVER_BIN was not built"
if [[ ! -d $EXPRESS_DIR/node_modules ]]; then
  log "installing the express-session peer"
  "$EXPRESS_DIR/install.sh" >&2
fi

# ---- servers ----------------------------------------------------------------
free_port REDIS_PORT
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK/redis" --daemonize no --logfile "$WORK/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 1 100); do
  [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true) == PONG ]] && break
  kill -0 "$REDIS_PID" 2>/dev/null || { cat "$WORK/redis.log" >&2; die "redis-server exited"; }
  sleep 0.1
done
[[ $(redis-cli -p "$REDIS_PORT" ping) == PONG ]] || die "redis-server did not answer"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
log "redis-server on $REDIS_URL"

NAMES=() LABELS=() STORES=() PORTS=() SPIDS=() USES_REDIS=()
start_rust() { # name label store url [extra bench_server args]
  local port
  free_port port
  "$SERVER_BIN" --store "$4" --listen "127.0.0.1:$port" "${@:5}" >"$WORK/$1.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  NAMES+=("$1") LABELS+=("$2") STORES+=("$3") PORTS+=("$port") SPIDS+=("$pid")
  if [[ $4 == redis* ]]; then USES_REDIS+=(1); else USES_REDIS+=(0); fi
}

start_node() { # name label touch
  local port
  free_port port
  (cd "$EXPRESS_DIR" && PORT=$port REDIS_URL=$REDIS_URL TOUCH=$3 exec node server.js) >"$WORK/$1.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  NAMES+=("$1") LABELS+=("$2") STORES+=("Redis") PORTS+=("$port") SPIDS+=("$pid") USES_REDIS+=(1)
}

start_rust authstore-memory "authstore-axum" "memory" "memory://"
start_rust authstore-redis "authstore-axum" "Redis" "$REDIS_URL"
if [[ $SIGNED == 1 ]]; then
  start_rust authstore-redis-signed "authstore-axum, signed cookie" "Redis" "$REDIS_URL" --signed
fi
start_node express "express-session" 0
if [[ $EXPRESS_TOUCH == 1 ]]; then
  start_node express-touch "express-session, default touch" 1
fi

COOKIES=()
for i in "${!NAMES[@]}"; do
  base="http://127.0.0.1:${PORTS[$i]}"
  wait_http "$base/me" "${SPIDS[$i]}" "$WORK/${NAMES[$i]}.log"
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/me") == 401 ]] ||
    die "${NAMES[$i]}: /me without a cookie is not 401"
  hdrs=$(curl -s -D - -o /dev/null -X POST "$base/login" | tr -d '\r')
  [[ $(head -1 <<<"$hdrs") == *" 200"* ]] || die "${NAMES[$i]}: /login failed: $(head -1 <<<"$hdrs")"
  cookie=$(grep -i '^set-cookie:' <<<"$hdrs" | head -1 | sed 's/^[^:]*: *//; s/;.*//')
  [[ -n $cookie ]] || die "${NAMES[$i]}: /login set no cookie"
  COOKIES+=("$cookie")
  # One authenticated request: 200, body "bench", and no Set-Cookie (nothing saved or extended).
  curl -s -D "$WORK/me.h" -o "$WORK/me.b" -H "Cookie: $cookie" "$base/me"
  status=$(head -1 "$WORK/me.h" | tr -d '\r')
  body=$(cat "$WORK/me.b")
  [[ $status == *" 200"* && $body == bench ]] ||
    die "${NAMES[$i]}: /me with the cookie answered '$status' '$body'"
  if grep -qi '^set-cookie:' "$WORK/me.h"; then die "${NAMES[$i]}: /me set a cookie"; fi
  log "${NAMES[$i]} on port ${PORTS[$i]}: logged in ($cookie), /me -> 200 '$body'"
done

# Redis commands of the measured run, as "name calls" lines.
redis_cmdstats() {
  redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\).*/\1 \2/p' | sort
}
# Commands a read-only /me may send.
READ_ONLY=" get pttl ttl mget exists info ping hello client select "

# ---- machine state -------------------------------------------------------------
# Cores busy over the next 3 s (all processes).
busy_3s() {
  local b0 t0 b1 t1
  read -r b0 t0 < <(machine_ticks)
  sleep 3
  read -r b1 t1 < <(machine_ticks)
  awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$(nproc)" 'BEGIN{printf "%.2f", n * b / t}'
}
# Waits (up to WAIT_IDLE s) until the machine is idle; sets IDLE_BEFORE.
wait_idle() {
  local waited=0
  while :; do
    IDLE_BEFORE=$(busy_3s)
    awk -v b="$IDLE_BEFORE" -v m="$IDLE_MAX" 'BEGIN{exit !(b < m)}' && return
    if ((waited >= WAIT_IDLE)); then
      log "WARNING: the machine is still busy ($IDLE_BEFORE cores) after ${WAIT_IDLE} s; measuring anyway"
      return
    fi
    log "machine busy ($IDLE_BEFORE cores, want < $IDLE_MAX); waiting"
    sleep 7
    waited=$((waited + 10))
  done
}

# ---- runs -------------------------------------------------------------------
ROWS=()
IDLE_EACH=""
DISTURBED_KEYS=" "
declare -A RPS SRV_US
# measure KEY SERVER_INDEX PATH LABEL STORE WITH_COOKIE(1|0)
measure() {
  local key=$1 i=$2 path=$3 label=$4 store=$5 with_cookie=$6
  local url="http://127.0.0.1:${PORTS[$i]}$path" pid=${SPIDS[$i]}
  local hdr=()
  [[ $with_cookie == 1 ]] && hdr=(-H "Cookie: ${COOKIES[$i]}")
  wait_idle
  IDLE_EACH+=" $IDLE_BEFORE"
  if [[ $WARMUP != 0 ]]; then
    log "$key: warm-up $WARMUP"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null
  fi
  local s0 s1 r0 r1 mb0 mt0 mb1 mt1
  redis_cmdstats >"$WORK/cs0"
  s0=$(cpu_ticks "$pid")
  r0=$(cpu_ticks "$REDIS_PID")
  read -r mb0 mt0 < <(machine_ticks)
  log "$key: measuring $url for $DURATION, $CONNECTIONS connections, $THREADS threads"
  local TIMEFORMAT='%U %S'
  { time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "${hdr[@]}" "$url" >"$WORK/$key.wrk"; } 2>"$WORK/$key.time"
  read -r mb1 mt1 < <(machine_ticks)
  s1=$(cpu_ticks "$pid")
  r1=$(cpu_ticks "$REDIS_PID")
  redis_cmdstats >"$WORK/cs1"
  local line
  line=$(grep '^RESULT ' "$WORK/$key.wrk") || { cat "$WORK/$key.wrk" >&2; die "$key: no RESULT line from wrk"; }
  local -A R=()
  local kv
  for kv in ${line#RESULT }; do R[${kv%%=*}]=${kv#*=}; done
  local errors=$((R[connect] + R[read] + R[write] + R[timeout]))
  [[ ${R[non2xx]} == 0 ]] || die "$key: ${R[non2xx]} non-2xx responses"
  [[ $errors == 0 ]] || die "$key: $errors socket errors (connect ${R[connect]} read ${R[read]} write ${R[write]} timeout ${R[timeout]})"
  ((R[requests] > 0)) || die "$key: no requests completed"
  # Still 200 "bench" after the run (for /me: the session is still there), and no Set-Cookie.
  curl -s -D "$WORK/after.h" -o "$WORK/after.b" "${hdr[@]}" "$url"
  [[ $(head -1 "$WORK/after.h") == *" 200"* && $(cat "$WORK/after.b") == bench ]] ||
    die "$key: $path no longer answers 200 'bench' after the run"
  if grep -qi '^set-cookie:' "$WORK/after.h"; then die "$key: $path set a cookie after the run"; fi

  local rps secs srv_us srv_cores redis_cores wrk_cores busy other redis_us cmds writes p50 p99
  rps=$(awk -v n="${R[requests]}" -v d="${R[duration_us]}" 'BEGIN{printf "%.0f", n / (d / 1e6)}')
  RPS[$key]=$rps
  secs=$(awk -v d="${R[duration_us]}" 'BEGIN{print d / 1e6}')
  srv_us=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v n="${R[requests]}" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')
  srv_cores=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v s="$secs" 'BEGIN{printf "%.2f", t / hz / s}')
  redis_cores=$(awk -v t=$((r1 - r0)) -v hz="$HZ" -v s="$secs" 'BEGIN{printf "%.2f", t / hz / s}')
  wrk_cores=$(tail -1 "$WORK/$key.time" | awk -v s="$secs" '{printf "%.2f", ($1 + $2) / s}')
  busy=$(awk -v b=$((mb1 - mb0)) -v t=$((mt1 - mt0)) -v c="$(nproc)" 'BEGIN{printf "%.2f", c * b / t}')
  other=$(awk -v b="$busy" -v a="$srv_cores" -v r="$redis_cores" -v w="$wrk_cores" 'BEGIN{x = b - a - r - w; if (x > -0.005 && x < 0.005) x = 0; printf "%.2f", x}')
  SRV_US[$key]=$srv_us
  if [[ ${USES_REDIS[$i]} == 1 ]]; then
    redis_us=$(awk -v t=$((r1 - r0)) -v hz="$HZ" -v n="${R[requests]}" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')
    # Per-request command counts (requests still in flight at the end make them slightly above whole numbers).
    cmds=$(join -a2 -e 0 -o '2.1,1.2,2.2' "$WORK/cs0" "$WORK/cs1" |
      awk -v n="${R[requests]}" '$1 != "info" && $3 - $2 > 0 {printf "%s%s %.2f", sep, toupper($1), ($3 - $2) / n; sep=", "}')
    writes=$(join -a2 -e 0 -o '2.1,1.2,2.2' "$WORK/cs0" "$WORK/cs1" |
      awk -v ro="$READ_ONLY" -v n="${R[requests]}" '$3 - $2 > n / 1000 && index(ro, " " $1 " ") == 0 {printf "%s ", toupper($1)}')
    [[ -n $writes ]] && cmds+=" (writes: ${writes% })"
    [[ -n $cmds ]] || cmds="none"
  else
    redis_us="–"
    redis_cores="–"
    cmds="none (in-process store)"
  fi
  if [[ $with_cookie == 0 ]]; then
    redis_us="–"
    [[ $cmds == none* ]] && cmds="none (no session)"
  fi
  p50=$(awk -v x="${R[p50_us]}" 'BEGIN{printf "%.2f", x / 1000}')
  p99=$(awk -v x="${R[p99_us]}" 'BEGIN{printf "%.2f", x / 1000}')
  if awk -v o="$other" -v m="$DISTURBED" 'BEGIN{exit !(o > m)}'; then
    other+=" ⚠"
    DISTURBED_KEYS+="$key "
  fi
  ROWS+=("| $label | $store | $rps | $p50 | $p99 | ${R[requests]} | $srv_cores | $redis_cores | $wrk_cores | $other | $srv_us | $redis_us | $cmds |")
  log "$key: $rps req/s, p50 ${R[p50_us]} µs, p99 ${R[p99_us]} µs"
}

for i in "${!NAMES[@]}"; do
  measure "${NAMES[$i]}" "$i" /me "${LABELS[$i]}" "${STORES[$i]}" 1
done
if [[ $BASELINES == 1 ]]; then
  # The same servers without the session layer: /hello answers "bench" outside it.
  for i in "${!NAMES[@]}"; do
    case ${NAMES[$i]} in
      authstore-memory) measure axum-hello "$i" /hello "axum, no session layer (/hello)" "–" 0 ;;
      express) measure express-hello "$i" /hello "express, no session middleware (/hello)" "–" 0 ;;
    esac
  done
fi

# ---- report -----------------------------------------------------------------
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
echo
echo "## Session layer vs express-session: GET /me, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP)"
echo
echo "- $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'); node $(node --version); $(redis-server --version | cut -d' ' -f1-3); $(rustc --version)"
echo "- authstore at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(not a git checkout)")$([[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && echo ' (work tree has changes)'); $(nproc) cores shared by wrk, the server and redis-server; busy cores in the 3 s before each case:$IDLE_EACH"
echo
echo "| server | store | requests/s | p50 ms | p99 ms | requests | server cores | redis-server cores | wrk cores | other cores | server CPU µs/req | redis-server CPU µs/req | Redis commands per request |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for row in "${ROWS[@]}"; do echo "$row" | commas; done
echo
if [[ $DISTURBED_KEYS != " " ]]; then
  echo "⚠ other processes used more than $DISTURBED cores during:${DISTURBED_KEYS% }. Those rows are not comparable; run again on a quiet machine."
  echo
fi
echo "Every response of every run was 2xx, with no socket errors (checked); /me answered 200 'bench' with no Set-Cookie before and after each run."
echo
ratio=$(awk -v a="${RPS[authstore-redis]}" -v b="${RPS[express]}" 'BEGIN{printf "%.2f", a / b}')
verdict=$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN{ if (r >= t) print "met"; else printf "MISSED by %.0f%%", (1 - r / t) * 100 }')
if [[ $DISTURBED_KEYS == *" authstore-redis "* || $DISTURBED_KEYS == *" express "* ]]; then
  verdict+="; DISTURBED: not a valid measurement"
fi
echo "authstore-axum on Redis / express-session on Redis: ${ratio}× (target ≥ ${TARGET}×: $verdict)"
if [[ -n ${RPS[authstore-redis-signed]:-} ]]; then
  echo "authstore-axum on Redis, signed cookie / express-session on Redis: $(awk -v a="${RPS[authstore-redis-signed]}" -v b="${RPS[express]}" 'BEGIN{printf "%.2f", a / b}')×"
fi
if [[ -n ${RPS[express-touch]:-} ]]; then
  echo "authstore-axum on Redis / express-session on Redis with default touch: $(awk -v a="${RPS[authstore-redis]}" -v b="${RPS[express-touch]}" 'BEGIN{printf "%.2f", a / b}')×"
fi
echo "server CPU per request, express-session on Redis / authstore-axum on Redis: $(awk -v a="${SRV_US[express]}" -v b="${SRV_US[authstore-redis]}" 'BEGIN{printf "%.1f", a / b}')×"
echo "authstore-axum on memory / express-session on Redis: $(awk -v a="${RPS[authstore-memory]}" -v b="${RPS[express]}" 'BEGIN{printf "%.2f", a / b}')×"
