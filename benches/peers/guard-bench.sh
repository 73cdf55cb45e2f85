#!/usr/bin/env bash
# Resource-server guard benchmark: the cost of checking a bearer token on
# every request, measured with wrk against a tiny endpoint, for each way
# authstore can validate tokens and for the MCP TypeScript SDK's middleware.
#
# Rows (each one wrk run of DURATION seconds after an unmeasured WARMUP):
#   open          GET /hello-open of the MCP example (no token check), sent with
#                 the same opaque token as the rows it is compared with: the
#                 baseline (the requests differ only by the check)
#   open-jwt      the same with the JWT of the jwt row: that row's baseline
#   same-store    GET /hello, SameStoreValidator on the authorization server's
#                 SQLite file (one hashed lookup per request)
#   same-store-401  the same with a token nobody issued (401 invalid_token):
#                 what a flood of made-up tokens costs
#   same-store-redis  GET /hello, SameStoreValidator on Redis (a redis-server
#                 this script starts on a free loopback port)
#   introspection GET /hello, IntrospectionValidator (RFC 7662) with its default
#                 cache (entries kept at most 60 s)
#   jwt           GET /hello, JwtValidator (RFC 9068, Ed25519, keys from /jwks)
#   ts-sdk        GET /hello of benches/peers/ts-bearer: express and the MCP
#                 TypeScript SDK's requireBearerAuth with a verifier that
#                 introspects every token with fetch (no cache, as the SDK's
#                 examples do)
#   ts-sdk-http   the same verifier with node:http and a keep-alive agent
#                 instead of fetch (a cheaper client, for comparison)
#   ts-open       GET /hello-open of the same node server (its own baseline, for reference)
#
# The authorization server is the release `authstore serve`: on a SQLite file
# with opaque access tokens for every row but same-store-redis (on Redis) and
# jwt (on memory://, with `[tokens] format = "jwt"`). Its config names one
# user, one public client, the resource RESOURCE =
# http://127.0.0.1:<rs port>/mcp, and the confidential client `guard-rs` as
# that resource's introspecting server. The user's access token for RESOURCE
# (scope mcp:tools) comes from the real authorization-code flow (PKCE S256),
# driven with curl through the sign-in and consent pages.
#
# The Rust rows use crates/authstore-axum/examples/mcp_server.rs
# (BearerAuthLayer, scope mcp:tools; one process per mode, on the same port).
# The TypeScript peer serves the same resource identifier (a replica of the
# same resource on another port) with the same required scope and the same
# opaque token, and introspects as the same client at the same
# authorization server (on SQLite).
#
# Before each wrk run curl checks that the endpoint answers what the row
# expects (200 "hello", or 401 for the made-up token), and after it wrk must
# report no socket errors and no unexpected status (every response 2xx, or
# every response non-2xx for the 401 row); otherwise the script stops.
#
# Besides requests/s and wrk's p50/p99 latency, each row shows:
#   CPU per request  CPU time (user + system) per request of the server
#                 that answers (the Rust example or node), and of the
#                 authorization server and redis-server together: the cost
#                 of a request whatever share of the cores wrk took;
#   other CPU     cores used during the run by processes other than the
#                 servers and wrk (the kernel's loopback work not charged to a
#                 process included); above OTHER_MAX the run is repeated, up
#                 to TRIES runs, and the last is reported, marked "busy".
#
# Targets: same-store >= 0.90 x open; introspection and jwt >= 0.80 x open;
# every authstore row >= 10 x ts-sdk (the target column also says whether it
# holds against ts-sdk-http).
#
# Usage: bash benches/peers/guard-bench.sh
# Environment:
#   DURATION=10      measured wrk run per row, seconds
#   WARMUP=3         unmeasured wrk run before each measured one, seconds
#   CONNECTIONS=64   wrk connections
#   THREADS=2        wrk threads
#   ROWS=open,same-store,same-store-401,same-store-redis,introspection,ts-sdk,ts-sdk-http,ts-open,jwt
#   OTHER_MAX=0.25   a run during which other processes used more cores than this is repeated
#   TRIES=3          runs per row at most
#   WAIT_QUIET=1800  before each run, wait up to this many seconds while rustc runs
#   NO_BUILD=1       skip the cargo builds (use the binaries in target/release)
#
# Everything listens on 127.0.0.1 (free ports) and is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROWS=${ROWS:-open,same-store,same-store-401,same-store-redis,introspection,ts-sdk,ts-sdk-http,ts-open,jwt}
OTHER_MAX=${OTHER_MAX:-0.25}
TRIES=${TRIES:-3}
WAIT_QUIET=${WAIT_QUIET:-1800}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TS_DIR="$HERE/ts-bearer"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
AS_BIN="$TARGET_DIR/release/authstore"
RS_BIN="$TARGET_DIR/release/examples/mcp_server"

log() { echo "guard-bench: $*" >&2; }
die() { log "$*"; exit 1; }
for v in DURATION WARMUP CONNECTIONS THREADS TRIES; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive whole number"
done
[[ $WAIT_QUIET =~ ^[0-9]+$ ]] || die "WAIT_QUIET must be a whole number of seconds"

# ---- tools ------------------------------------------------------------------
apt_install() {
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get install -y "$@" >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y "$@" >&2; }
}
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
command -v curl >/dev/null || { log "installing curl"; apt_install curl; }
for tool in openssl basenc node npm cargo; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if [[ ,$ROWS, == *,same-store-redis,* ]] && ! command -v redis-server >/dev/null; then
  log "installing redis-server"
  apt_install redis-server
fi

# ---- build and install --------------------------------------------------------
if [[ -z ${NO_BUILD:-} ]]; then
  log "building authstore and the mcp_server example (release)"
  (cd "$ROOT" && cargo build --release --locked -p authstore-server --bin authstore >&2)
  (cd "$ROOT" && cargo build --release --locked -p authstore-axum --features sqlite,redis --example mcp_server >&2)
fi
[[ -x $AS_BIN ]] || die "no $AS_BIN (cargo build --release -p authstore-server --bin authstore)"
[[ -x $RS_BIN ]] || die "no $RS_BIN (cargo build --release -p authstore-axum --features sqlite,redis --example mcp_server)"
if [[ ! -f $TS_DIR/node_modules/.package-lock.json || $TS_DIR/package-lock.json -nt $TS_DIR/node_modules/.package-lock.json ]]; then
  log "installing the ts-bearer peer (npm ci)"
  (cd "$TS_DIR" && npm ci --no-audit --no-fund >&2)
fi
SDK_VERSION=$(node -p "require('$TS_DIR/node_modules/@modelcontextprotocol/sdk/package.json').version")
EXPRESS_VERSION=$(node -p "require('$TS_DIR/node_modules/express/package.json').version")

# ---- processes ----------------------------------------------------------------
WORK=$(mktemp -d /tmp/guard-bench.XXXXXX)
PIDS=()
cleanup() {
  local rc=$? pid f
  if ((rc != 0)); then
    for f in "$WORK"/*.log; do
      [[ -s $f ]] || continue
      log "last lines of $(basename "$f"):"
      tail -20 "$f" >&2
    done
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"

# wait_up URL PID LOG: until GET URL answers (any status); fails if PID exits.
wait_up() {
  local url=$1 pid=$2 logf=$3
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || die "the server for $url exited (see $(basename "$logf"))"
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) != 000 ]] && return
    sleep 0.05
  done
  die "$url did not come up"
}

# stop PID: SIGTERM and wait.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# ---- authorization server ------------------------------------------------------
free_port AS_PORT
free_port RS_PORT
free_port TS_PORT
AS="http://127.0.0.1:$AS_PORT"
RS="http://127.0.0.1:$RS_PORT"
TS="http://127.0.0.1:$TS_PORT"
RESOURCE="$RS/mcp"
SCOPE="mcp:tools"
RS_CLIENT=guard-rs
RS_SECRET=$(openssl rand -hex 32)
USER_PASSWORD=$(openssl rand -hex 16)
REDIRECT=http://127.0.0.1:5555/callback
export GUARD_RS_SECRET=$RS_SECRET GUARD_USER_PASSWORD=$USER_PASSWORD

# write_as_config FILE STORE FORMAT
write_as_config() {
  cat >"$1" <<EOF
store = "$2"
listen = "127.0.0.1:$AS_PORT"
issuer = "$AS"
resource = "$RESOURCE"
dev_cookies = true
scopes_supported = ["$SCOPE"]

[tokens]
format = "$3"

[[users]]
name = "bench"
password_env = "GUARD_USER_PASSWORD"
user_id = "u-bench"

[[clients]]
name = "guard-cli"
client_id = "guard-cli"
public = true
redirect_uris = ["$REDIRECT"]
scopes = ["$SCOPE"]

[[clients]]
name = "$RS_CLIENT"
client_id = "$RS_CLIENT"
secret_env = "GUARD_RS_SECRET"
grant_types = ["client_credentials"]
scopes = ["$SCOPE"]

[[resource_servers]]
client_id = "$RS_CLIENT"
resource = "$RESOURCE"
EOF
}

AS_PID=""
# start_as NAME STORE FORMAT
start_as() {
  write_as_config "$WORK/as-$1.toml" "$2" "$3"
  RUST_LOG=warn "$AS_BIN" serve --config "$WORK/as-$1.toml" >"$WORK/as-$1.log" 2>&1 &
  AS_PID=$!
  PIDS+=("$AS_PID")
  wait_up "$AS/health" "$AS_PID" "$WORK/as-$1.log"
}

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# user_token: the user's access token for RESOURCE, from the authorization-code
# flow through the sign-in and consent pages (as a browser would post them).
user_token() {
  local jar="$WORK/jar" verifier challenge q csrf code response token
  rm -f "$jar"
  verifier=$(openssl rand -hex 32)
  challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | basenc --base64url | tr -d =)
  q="response_type=code&client_id=guard-cli&redirect_uri=$(urlencode "$REDIRECT")&code_challenge=$challenge"
  q+="&code_challenge_method=S256&state=bench&scope=$(urlencode "$SCOPE")&resource=$(urlencode "$RESOURCE")"
  csrf=$(curl -s -b "$jar" -c "$jar" "$AS/authorize?$q" | grep -o 'name="_csrf" value="[^"]*' | cut -d'"' -f4)
  [[ -n $csrf ]] || die "no sign-in form at $AS/authorize"
  curl -s -b "$jar" -c "$jar" -H 'Sec-Fetch-Site: same-origin' -o /dev/null \
    --data-urlencode "_csrf=$csrf" --data-urlencode username=bench --data-urlencode "password=$USER_PASSWORD" \
    --data-urlencode "return_to=/authorize?$q" "$AS/login"
  csrf=$(curl -s -b "$jar" -c "$jar" "$AS/authorize?$q" | grep -o 'name="_csrf" value="[^"]*' | cut -d'"' -f4)
  [[ -n $csrf ]] || die "no consent form at $AS/authorize after signing in"
  code=$(curl -s -b "$jar" -c "$jar" -H 'Sec-Fetch-Site: same-origin' -o /dev/null -w '%{redirect_url}' \
    -d "_csrf=$(urlencode "$csrf")&$q&decision=approve" "$AS/authorize" | grep -o '[?&]code=[^&]*' | cut -d= -f2)
  [[ -n $code ]] || die "the consent page gave no code"
  response=$(curl -s -d "grant_type=authorization_code&client_id=guard-cli&code=$code" \
    -d "redirect_uri=$(urlencode "$REDIRECT")&code_verifier=$verifier" "$AS/token")
  token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$response")
  [[ -n $token ]] || die "no access token from $AS/token"
  printf '%s' "$token"
}

# ---- resource servers ------------------------------------------------------------
RS_PID=""
# start_rs MODE [FLAGS...]
start_rs() {
  local mode=$1
  shift
  "$RS_BIN" --listen "127.0.0.1:$RS_PORT" --resource "$RESOURCE" --issuer "$AS" --mode "$mode" "$@" \
    >"$WORK/rs-$mode.log" 2>&1 &
  RS_PID=$!
  PIDS+=("$RS_PID")
  wait_up "$RS/hello-open" "$RS_PID" "$WORK/rs-$mode.log"
}

TS_PID=""
# start_ts fetch|http: the TypeScript peer, introspecting with that client.
start_ts() {
  (cd "$TS_DIR" && NODE_ENV=production PORT=$TS_PORT RESOURCE=$RESOURCE INTROSPECTION_URL="$AS/introspect" \
    CLIENT_ID=$RS_CLIENT CLIENT_SECRET=$RS_SECRET REQUIRED_SCOPES=$SCOPE INTROSPECTION_CLIENT=$1 \
    exec node server.mjs) >"$WORK/ts-$1.log" 2>&1 &
  TS_PID=$!
  PIDS+=("$TS_PID")
  wait_up "$TS/hello-open" "$TS_PID" "$WORK/ts-$1.log"
}

# ---- measuring -----------------------------------------------------------------
# Busy CPU ticks of the whole machine (all but idle and iowait).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# CPU ticks (user + system) of the processes named by PID, 0 for gone ones.
process_ticks() {
  local pid total=0
  for pid in "$@"; do
    [[ -n $pid && -r /proc/$pid/stat ]] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)
# CPU ticks (user + system) of this shell's finished children (wrk, once
# waited for), read from a file that `times`, run in this shell (a command
# substitution's subshell would see none of them), has just written.
children_ticks() {
  awk -v hz="$HZ" 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
    printf "%d", t * hz }' "$WORK/times"
}

wait_quiet() {
  local waited=0
  while pgrep -x rustc >/dev/null; do
    ((waited == 0)) && log "rustc is running: waiting up to ${WAIT_QUIET}s for a quiet machine"
    ((waited >= WAIT_QUIET)) && { log "still not quiet: measuring anyway"; return; }
    sleep 5
    waited=$((waited + 5))
  done
}

# check URL TOKEN EXPECT: curl must see EXPECT (200 with body "hello", or 401).
check() {
  local url=$1 token=$2 expect=$3 out status body
  if [[ -n $token ]]; then
    out=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $token" "$url")
  else
    out=$(curl -s -w '\n%{http_code}' "$url")
  fi
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  case $expect in
    200) [[ $status == 200 && $body == hello ]] || die "$url answered $status ${body:0:200} (expected 200 hello)" ;;
    401) [[ $status == 401 ]] || die "$url answered $status ${body:0:200} (expected 401)" ;;
  esac
}

# ms VALUE: wrk's "420.00us" / "1.23ms" / "1.01s" in milliseconds.
ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

declare -A RPS P50 P99 OTHER NOTE CPU_RS CPU_BACK
ORDER=()
# measure ROW URL TOKEN EXPECT SERVER_PIDS...
measure() {
  local row=$1 url=$2 token=$3 expect=$4 pids=("${@:5}") try out hdr=() t0 t1 m0 m1 p0 p1 r0 r1 c0 c1 others
  local total non2xx errors
  [[ -n $token ]] && hdr=(-H "Authorization: Bearer $token")
  for ((try = 1; try <= TRIES; try++)); do
    wait_quiet
    check "$url" "$token" "$expect"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "${hdr[@]}" "$url" >/dev/null 2>&1
    check "$url" "$token" "$expect"
    out="$WORK/wrk-$row.out"
    t0=$(date +%s.%N); m0=$(machine_ticks); p0=$(process_ticks "${pids[@]}"); r0=$(process_ticks "${pids[0]}")
    times >"$WORK/times"; c0=$(children_ticks)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${hdr[@]}" "$url" >"$out" 2>&1 ||
      die "$row: wrk failed: $(cat "$out")"
    t1=$(date +%s.%N); m1=$(machine_ticks); p1=$(process_ticks "${pids[@]}"); r1=$(process_ticks "${pids[0]}")
    times >"$WORK/times"; c1=$(children_ticks)
    others=$(awk -v m="$((m1 - m0))" -v p="$((p1 - p0 + c1 - c0))" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
      'BEGIN { o = (m - p) / hz / (t1 - t0); printf "%.2f", (o < 0 ? 0 : o) }')
    check "$url" "$token" "$expect"
    total=$(awk '/requests in/ {print $1}' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    errors=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out")
    [[ -n $total && $total -gt 0 ]] || die "$row: wrk made no requests: $(cat "$out")"
    [[ -z $errors || $errors == "0 0 0 0" ]] || die "$row: socket errors (connect read write timeout: $errors)"
    case $expect in
      200) [[ -z $non2xx ]] || die "$row: $non2xx of $total responses were not 2xx" ;;
      401) [[ $non2xx == "$total" ]] || die "$row: ${non2xx:-0} of $total responses were refused (all should be)" ;;
    esac
    RPS[$row]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    P50[$row]=$(ms "$(awk '$1 == "50%" {print $2}' "$out")")
    P99[$row]=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
    OTHER[$row]=$others
    CPU_RS[$row]=$(awk -v p="$((r1 - r0))" -v hz="$HZ" -v n="$total" 'BEGIN { printf "%.0f", p / hz / n * 1e6 }')
    CPU_BACK[$row]=-
    if ((${#pids[@]} > 1)); then
      CPU_BACK[$row]=$(awk -v p="$((p1 - p0 - r1 + r0))" -v hz="$HZ" -v n="$total" \
        'BEGIN { v = p / hz / n * 1e6; printf "%.0f", (v < 0 ? 0 : v) }')
    fi
    NOTE[$row]=""
    log "$row: ${RPS[$row]} req/s, p50 ${P50[$row]} ms, p99 ${P99[$row]} ms, CPU per request ${CPU_RS[$row]} + ${CPU_BACK[$row]} µs, other CPU $others (try $try)"
    awk -v o="$others" -v max="$OTHER_MAX" 'BEGIN { exit !(o <= max) }' && break
    NOTE[$row]="busy"
  done
  ORDER+=("$row")
}

want() { [[ ,$ROWS, == *,$1,* ]]; }

BAD_TOKEN=$(openssl rand 32 | basenc --base64url | tr -d =)

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if want open || want same-store || want same-store-401 || want introspection || want ts-sdk || want ts-sdk-http ||
  want ts-open; then
  start_as sqlite "sqlite://$WORK/as.db" opaque
  TOKEN=$(user_token)
  log "opaque access token for $RESOURCE from $AS"
  if want open || want same-store || want same-store-401; then
    start_rs same-store --store "sqlite://$WORK/as.db"
    want open && measure open "$RS/hello-open" "$TOKEN" 200 "$RS_PID"
    want same-store && measure same-store "$RS/hello" "$TOKEN" 200 "$RS_PID" "$AS_PID"
    want same-store-401 && measure same-store-401 "$RS/hello" "$BAD_TOKEN" 401 "$RS_PID" "$AS_PID"
    stop "$RS_PID"
  fi
  if want introspection; then
    start_rs introspection --client-id "$RS_CLIENT" --client-secret-env GUARD_RS_SECRET
    measure introspection "$RS/hello" "$TOKEN" 200 "$RS_PID" "$AS_PID"
    stop "$RS_PID"
  fi
  if want ts-sdk || want ts-open; then
    start_ts fetch
    want ts-sdk && measure ts-sdk "$TS/hello" "$TOKEN" 200 "$TS_PID" "$AS_PID"
    want ts-open && measure ts-open "$TS/hello-open" "" 200 "$TS_PID"
    stop "$TS_PID"
  fi
  if want ts-sdk-http; then
    start_ts http
    measure ts-sdk-http "$TS/hello" "$TOKEN" 200 "$TS_PID" "$AS_PID"
    stop "$TS_PID"
  fi
  stop "$AS_PID"
fi
if want same-store-redis; then
  free_port REDIS_PORT
  mkdir -p "$WORK/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORK/redis" --daemonize no --logfile "$WORK/redis.log" >/dev/null 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 100); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true) == PONG ]] && break
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited"
    sleep 0.1
  done
  start_as redis "redis://127.0.0.1:$REDIS_PORT" opaque
  TOKEN=$(user_token)
  log "opaque access token for $RESOURCE from $AS on Redis"
  start_rs same-store --store "redis://127.0.0.1:$REDIS_PORT"
  measure same-store-redis "$RS/hello" "$TOKEN" 200 "$RS_PID" "$AS_PID" "$REDIS_PID"
  stop "$RS_PID"
  stop "$AS_PID"
  stop "$REDIS_PID"
fi
if want jwt; then
  start_as jwt "memory://" jwt
  JWT=$(user_token)
  [[ $JWT == *.*.* ]] || die "the jwt authorization server issued no JWT"
  log "JWT access token for $RESOURCE from $AS"
  start_rs jwt
  measure open-jwt "$RS/hello-open" "$JWT" 200 "$RS_PID"
  measure jwt "$RS/hello" "$JWT" 200 "$RS_PID" "$AS_PID"
  stop "$RS_PID"
  stop "$AS_PID"
fi

# ---- table -----------------------------------------------------------------------
describe() {
  case $1 in
    open) echo "unprotected (/hello-open), same opaque token sent" ;;
    open-jwt) echo "unprotected (/hello-open), same JWT sent" ;;
    same-store) echo "same-store (SQLite)" ;;
    same-store-401) echo "same-store (SQLite), made-up token (401)" ;;
    same-store-redis) echo "same-store (Redis)" ;;
    introspection) echo "introspection, cache 60 s" ;;
    jwt) echo "JWT (Ed25519)" ;;
    ts-sdk) echo "TS SDK $SDK_VERSION requireBearerAuth, introspection (fetch)" ;;
    ts-sdk-http) echo "TS SDK $SDK_VERSION requireBearerAuth, introspection (node:http)" ;;
    ts-open) echo "TS: express $EXPRESS_VERSION unprotected (/hello-open)" ;;
  esac
}
target_of() {
  case $1 in
    same-store | same-store-redis) echo 0.90 ;;
    introspection | jwt) echo 0.80 ;;
    *) echo "" ;;
  esac
}
ratio() { [[ -n ${2:-} && ${2:-0} != 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && commit+=" (work tree has changes)"
echo
echo "Bearer-token guard: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s), $(nproc) cores, kernel $(uname -r)"
echo
echo "- authstore $commit; $(rustc --version 2>/dev/null || echo rustc unknown)"
echo "- $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2); node $(node --version); @modelcontextprotocol/sdk $SDK_VERSION; express $EXPRESS_VERSION"
if want same-store-redis; then echo "- $(redis-server --version | cut -d' ' -f1-3)"; fi
echo
printf '| mode | requests/s | p50 (ms) | p99 (ms) | ÷ unprotected | ÷ TS middleware (fetch / node:http) | target | CPU per request: server (µs) | CPU per request: AS + store (µs) | other CPU (cores) |\n'
printf '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n'
for row in "${ORDER[@]}"; do
  baseline=open
  [[ $row == jwt ]] && baseline=open-jwt
  vs_open=$(ratio "${RPS[$row]}" "${RPS[$baseline]:-}")
  vs_ts=$(ratio "${RPS[$row]}" "${RPS[ts-sdk]:-}")
  vs_ts_http=$(ratio "${RPS[$row]}" "${RPS[ts-sdk-http]:-}")
  target="" t=$(target_of "$row")
  if [[ -n $t && $vs_open != - ]]; then
    target="≥ $t× open: $(awk -v r="$vs_open" -v t="$t" 'BEGIN { print (r >= t ? "met" : "missed") }')"
  fi
  if [[ $row != ts-* && $row != open* ]]; then
    ts_verdict=""
    [[ $vs_ts != - ]] && ts_verdict="$(awk -v r="$vs_ts" 'BEGIN { print (r >= 10 ? "met" : "missed") }') (fetch)"
    [[ $vs_ts_http != - ]] &&
      ts_verdict+="${ts_verdict:+, }$(awk -v r="$vs_ts_http" 'BEGIN { print (r >= 10 ? "met" : "missed") }') (node:http)"
    [[ -n $ts_verdict ]] && target+="${target:+; }≥ 10× TS: $ts_verdict"
  fi
  printf '| %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s%s |\n' "$(describe "$row")" "${RPS[$row]}" \
    "${P50[$row]}" "${P99[$row]}" "$vs_open" "$vs_ts" "$vs_ts_http" "${target:--}" "${CPU_RS[$row]}" \
    "${CPU_BACK[$row]}" "${OTHER[$row]}" "${NOTE[$row]:+ (${NOTE[$row]})}"
done
