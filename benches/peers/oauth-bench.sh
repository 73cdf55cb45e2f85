#!/usr/bin/env bash
# Peer benchmark of the OAuth token endpoint: authstore-server (memory store
# and Redis) against node-oidc-provider (its in-memory adapter), measured with
# wrk.
#
#   1. code exchange: POST /token, grant_type=authorization_code with
#      code_verifier (PKCE S256), each request redeeming a fresh code from a
#      batch minted before the timed run; once with a confidential client
#      (client_secret_basic) and once with a public client (PKCE only,
#      token_endpoint_auth_method=none);
#   2. introspection: POST /introspect (authstore) or /token/introspection
#      (oidc-provider) of one access token, by the confidential client
#      (client_secret_basic);
#   3. ID token issuance (exchange-openid): the public client's code exchange
#      for a code of an OpenID Connect sign-in (scope openid, a nonce): each
#      response carries an access token and an RS256-signed ID token
#      (authstore: id_token_alg RS256, its default; oidc-provider: RS256, its
#      default, with a 2048-bit key generated at start).
#
# Usage: bash benches/peers/oauth-bench.sh
# Environment:
#   DURATION=10      measured wrk run per case, seconds
#   WARMUP=20        unmeasured wrk run before each measured one that verifies a client secret, seconds
#                    (authstore-server's throughput there only settles after ~20 s of load: see docs/BENCHMARKS.md)
#   WARMUP_PUBLIC=5  the same before each public-client exchange
#   CONNECTIONS=64   wrk connections
#   THREADS=2        wrk threads
#   TARGET=5         target ratio authstore / oidc-provider, per row
#   HEADROOM=1.5     codes minted = warm-up rate x DURATION x HEADROOM (+1000)
#   CASES=exchange-confidential,exchange-public,introspect,exchange-openid
#   SERVERS=authstore-memory,authstore-redis,oidc-provider
#   IDLE_MAX=0.16    busy cores (over 3 s) below which the machine counts as idle
#   WAIT_IDLE=600    seconds to wait for an idle machine before measuring anyway
#   OTHER_MAX=0.25   a measured run during which other processes used more cores than this is
#   TRIES=3          repeated, up to TRIES runs in all (the last one is reported whatever it shows)
#   ALLOCATOR=mimalloc  the server's allocator: mimalloc (the binary's default feature) or system
#
# The servers: crates/authstore-server/examples/token_bench_server.rs and
# benches/peers/oidc-provider/server.js. Both register the same two clients
# and expose a bench-only POST /bench/codes that mints codes without the
# sign-in and consent pages (authstore: OAuth::issue_code; oidc-provider: its
# Grant and AuthorizationCode models, as its authorization endpoint does;
# benches/peers/oidc-provider/realflow.js checks that such a code matches one
# from the real interaction flow). With &openid=1 they mint OpenID Connect
# codes: scope openid, a nonce and auth_time (oidc-provider also saves the
# sign-in's Session, which it checks at /token for a code without
# offline_access; `realflow.js BASE openid` compares such a code with one
# from a real OpenID sign-in).
#
# Everything it starts (redis-server, the servers) listens on 127.0.0.1 only,
# on free ports (never 6379), and is stopped on exit. Each server is stopped
# after its case. (Before authstore bounded argon2id runs to one per core and
# remembered verified client secrets, its RSS reached 10-14 GiB here; see
# docs/BENCHMARKS.md.)
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-20}
WARMUP_PUBLIC=${WARMUP_PUBLIC:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
TARGET=${TARGET:-5}
HEADROOM=${HEADROOM:-1.5}
CASES=${CASES:-exchange-confidential,exchange-public,introspect,exchange-openid}
SERVERS=${SERVERS:-authstore-memory,authstore-redis,oidc-provider}
IDLE_MAX=${IDLE_MAX:-0.16}
OTHER_MAX=${OTHER_MAX:-0.25}
TRIES=${TRIES:-3}
WAIT_IDLE=${WAIT_IDLE:-600}
ALLOCATOR=${ALLOCATOR:-mimalloc}
MAX_BATCH=2000000

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OIDC_DIR="$HERE/oidc-provider"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_BIN="$TARGET_DIR/release/examples/token_bench_server"

log() { echo "oauth-bench: $*" >&2; }
die() { log "$*"; exit 1; }
case $ALLOCATOR in
  mimalloc) SERVER_FEATURES=() ;;
  system) SERVER_FEATURES=(--no-default-features --features redis,postgres,sqlite) ;;
  *) die "ALLOCATOR must be mimalloc or system" ;;
esac
for v in DURATION WARMUP WARMUP_PUBLIC; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a whole number of seconds (> 0)"
done

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
WORK=$(mktemp -d /tmp/oauth-bench.XXXXXX)
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

# Waits until GET url answers 200; fails if pid exits first.
wait_http() {
  local url=$1 pid=$2 logf=$3
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "server for $url exited"; }
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) == 200 ]] && return
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

# ---- wrk script -------------------------------------------------------------
# Each wrk thread reads the body file in init and keeps every THREADS-th line
# (thread i: lines i, i+THREADS, ...), so the threads' slices are disjoint and
# every request carries a code no other request uses. In "repeat" mode the one
# line is sent on every request. Every response is checked: status 200 and a
# body containing EXPECT. A thread whose slice runs out stops (the run is then
# invalid and the driver mints more). done() prints one RESULT line.
LUA="$WORK/oauth.lua"
cat >"$LUA" <<'EOF'
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[4])
  path, expected, mode = args[2], args[3], args[5]
  bodies, n = {}, 0
  local i = 0
  for line in io.lines(file) do
    if mode == "repeat" or i % nthreads == id then
      n = n + 1
      bodies[n] = line
    end
    i = i + 1
  end
  next_i, ok, bad, exhausted, sample_bad, sample_ok = 0, 0, 0, 0, "", ""
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  if mode == "repeat" then
    return wrk.format("POST", path, nil, bodies[1])
  end
  next_i = next_i + 1
  if next_i > n then
    exhausted = exhausted + 1
    wrk.thread:stop()
    return wrk.format("GET", "/bench/exhausted")
  end
  return wrk.format("POST", path, nil, bodies[next_i])
end

function response(status, headers, body)
  if status == 200 and string.find(body, expected, 1, true) then
    ok = ok + 1
    if sample_ok == "" then sample_ok = body end
  else
    bad = bad + 1
    if sample_bad == "" then sample_bad = status .. " " .. string.sub(body, 1, 300) end
  end
end

function done(summary, latency, requests)
  local ok, bad, exhausted, sample_bad, sample_ok = 0, 0, 0, "", ""
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok")
    bad = bad + t:get("bad")
    exhausted = exhausted + t:get("exhausted")
    if sample_bad == "" then sample_bad = t:get("sample_bad") end
    if sample_ok == "" then sample_ok = t:get("sample_ok") end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d ok=%d bad=%d exhausted=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, ok, bad, exhausted))
  io.write("SAMPLE_OK " .. string.gsub(sample_ok, "\n", " ") .. "\n")
  if sample_bad ~= "" then io.write("SAMPLE_BAD " .. string.gsub(sample_bad, "\n", " ") .. "\n") end
end
EOF

# ---- build and install --------------------------------------------------------
log "building token_bench_server (release, $ALLOCATOR allocator)"
(cd "$ROOT" && cargo build --release -p authstore-server --example token_bench_server "${SERVER_FEATURES[@]}" >&2)
[[ -x $SERVER_BIN ]] || die "$SERVER_BIN was not built"
if [[ ! -d $OIDC_DIR/node_modules/oidc-provider ]]; then
  log "installing the oidc-provider peer"
  "$OIDC_DIR/install.sh" >&2
fi
OIDC_VERSION=$(node -p "require('$OIDC_DIR/node_modules/oidc-provider/package.json').version")

# ---- servers ----------------------------------------------------------------
REDIS_PID=""
if [[ ,$SERVERS, == *,authstore-redis,* ]]; then
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
fi

# Each case starts every server afresh (Redis flushed) and stops it after its
# run: the cases do not inherit each other's stored grants or allocator state,
# and no server holds the memory of more than one case.
NAMES=() LABELS=() STORES=() URLS=() PORTS=() SPIDS=() TOKEN_PATHS=() INTRO_PATHS=()
for s in ${SERVERS//,/ }; do
  case $s in
    authstore-memory) NAMES+=("$s") LABELS+=("authstore-server") STORES+=("memory") URLS+=("memory://") ;;
    authstore-redis) NAMES+=("$s") LABELS+=("authstore-server") STORES+=("Redis") URLS+=("$REDIS_URL") ;;
    oidc-provider) NAMES+=("$s") LABELS+=("oidc-provider $OIDC_VERSION") STORES+=("memory adapter") URLS+=("") ;;
    *) die "unknown server $s" ;;
  esac
  case $s in
    oidc-provider) TOKEN_PATHS+=(/token) INTRO_PATHS+=(/token/introspection) ;;
    *) TOKEN_PATHS+=(/token) INTRO_PATHS+=(/introspect) ;;
  esac
  PORTS+=("") SPIDS+=("")
done

declare -A IDX CONF_ID CONF_SECRET PUB_ID REDIRECT_ENC AT SAMPLE_TOKEN SAMPLE_ID_TOKEN
for i in "${!NAMES[@]}"; do IDX[${NAMES[$i]}]=$i; done
REALFLOW=""
REALFLOW_OPENID=""
b64() { printf '%s' "$1" | base64 -w0; }
# mint I CLIENT N FILE: N codes from server I, as form bodies (one per line) in
# FILE. CLIENT public-openid: the public client's OpenID Connect codes.
mint() {
  local i=$1 client=$2 n=$3 file=$4 base="http://127.0.0.1:${PORTS[$1]}" extra="" query
  [[ $client == public* ]] && extra="&client_id=${PUB_ID[$i]}"
  query="client=${client%-openid}"
  [[ $client == *-openid ]] && query+="&openid=1"
  curl -sf --max-time 900 -X POST "$base/bench/codes?n=$n&$query" -o "$WORK/codes.txt" ||
    die "${NAMES[$i]}: minting $n codes failed"
  local got
  got=$(wc -l <"$WORK/codes.txt")
  ((got == n)) || die "${NAMES[$i]}: asked for $n codes, got $got"
  awk -v r="${REDIRECT_ENC[$i]}" -v x="$extra" \
    '{printf "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s%s\n", $1, r, $2, x}' \
    "$WORK/codes.txt" >"$file"
}
# exchange I CLIENT BODY: curl of the token endpoint; prints the body, then "STATUS code".
exchange() {
  local i=$1 client=$2 body=$3 auth_hdr=()
  [[ $client == confidential ]] && auth_hdr=(-H "Authorization: Basic $(b64 "${CONF_ID[$i]}:${CONF_SECRET[$i]}")")
  curl -s -w '\n%{http_code}' "${auth_hdr[@]}" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "$body" "http://127.0.0.1:${PORTS[$i]}${TOKEN_PATHS[$i]}" |
    awk 'NR > 1 {print prev} {prev = $0} END {printf "STATUS %s\n", prev}'
}
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
# The decoded header and payload of a compact JWS, "HEADER PAYLOAD" (nonce value elided).
id_token_parts() {
  local part out=""
  for part in $(cut -d. -f1,2 <<<"$1" | tr . ' '); do
    part=$(tr -- '-_' '+/' <<<"$part")
    while ((${#part} % 4)); do part+="="; done
    out+="$(base64 -d <<<"$part" 2>/dev/null) "
  done
  sed -E 's/("nonce":")[^"]*"/\1…"/' <<<"${out% }"
}

# start_server I: starts server I on a free port, reads its clients, and checks
# correctness before any timing: a confidential exchange (200, access and
# refresh token), the same code again (400 invalid_grant), a public exchange,
# and an introspection of a live access token (kept in AT for the
# introspection case). oidc-provider also gets the real-flow check once.
start_server() {
  local i=$1 name=${NAMES[$1]} port pid base out intro
  free_port port
  case $name in
    authstore-*)
      [[ $name == authstore-redis ]] && { redis-cli -p "$REDIS_PORT" flushall >/dev/null || die "FLUSHALL failed"; }
      "$SERVER_BIN" --store "${URLS[$i]}" --listen "127.0.0.1:$port" --code-ttl-secs 600 >"$WORK/$name.log" 2>&1 &
      pid=$!
      ;;
    oidc-provider)
      (cd "$OIDC_DIR" && PORT=$port CODE_TTL=600 exec node --max-old-space-size=8192 server.js) >"$WORK/$name.log" 2>&1 &
      pid=$!
      ;;
  esac
  PIDS+=("$pid")
  PORTS[i]=$port SPIDS[i]=$pid
  base="http://127.0.0.1:$port"
  wait_http "$base/bench/clients" "$pid" "$WORK/$name.log"
  curl -sf "$base/bench/clients" >"$WORK/clients.txt"
  CONF_ID[$i]=$(sed -n 's/^confidential_id=//p' "$WORK/clients.txt")
  CONF_SECRET[$i]=$(sed -n 's/^confidential_secret=//p' "$WORK/clients.txt")
  PUB_ID[$i]=$(sed -n 's/^public_id=//p' "$WORK/clients.txt")
  REDIRECT_ENC[$i]=$(sed -n 's/^redirect_uri=//p' "$WORK/clients.txt" | sed 's/:/%3A/g; s#/#%2F#g')
  mint "$i" confidential 2 "$WORK/pre.txt"
  out=$(exchange "$i" confidential "$(sed -n 1p "$WORK/pre.txt")")
  [[ $out == *'"access_token"'* && $out == *'"refresh_token"'* && $out == *"STATUS 200" ]] ||
    die "$name: confidential exchange failed: $out"
  SAMPLE_TOKEN[$i]=$(head -1 <<<"$out" | sed -E 's/("(access|refresh)_token":")([^"]{6})[^"]*"/\1\3…"/g')
  out=$(exchange "$i" confidential "$(sed -n 1p "$WORK/pre.txt")")
  [[ $out == *invalid_grant* && $out == *"STATUS 400" ]] || die "$name: a reused code was not refused: $out"
  out=$(exchange "$i" confidential "$(sed -n 2p "$WORK/pre.txt")")
  [[ $out == *"STATUS 200" ]] || die "$name: second confidential exchange failed: $out"
  AT[$i]=$(head -1 <<<"$out" | json_field access_token)
  [[ -n ${AT[$i]} ]] || die "$name: no access_token in $out"
  mint "$i" public 1 "$WORK/pre.txt"
  out=$(exchange "$i" public "$(cat "$WORK/pre.txt")")
  [[ $out == *'"access_token"'* && $out == *"STATUS 200" ]] || die "$name: public exchange failed: $out"
  if [[ ,$CASES, == *,exchange-openid,* ]]; then
    mint "$i" public-openid 1 "$WORK/pre.txt"
    out=$(exchange "$i" public "$(cat "$WORK/pre.txt")")
    [[ $out == *'"id_token"'* && $out == *"STATUS 200" ]] || die "$name: OpenID exchange failed: $out"
    SAMPLE_ID_TOKEN[$i]=$(id_token_parts "$(head -1 <<<"$out" | json_field id_token)")
    [[ ${SAMPLE_ID_TOKEN[$i]} == *'"alg":"RS256"'* && ${SAMPLE_ID_TOKEN[$i]} == *'"nonce":"'* ]] ||
      die "$name: the ID token is not RS256 with a nonce: ${SAMPLE_ID_TOKEN[$i]}"
  fi
  intro=$(curl -s -H "Authorization: Basic $(b64 "${CONF_ID[$i]}:${CONF_SECRET[$i]}")" \
    --data-binary "token=${AT[$i]}" "$base${INTRO_PATHS[$i]}")
  [[ $intro == *'"active":true'* ]] || die "$name: introspection failed: $intro"
  if [[ $name == oidc-provider && -z $REALFLOW ]]; then
    REALFLOW=$(node "$OIDC_DIR/realflow.js" "$base") || die "oidc-provider: the real-flow check failed"
    log "$REALFLOW"
  fi
  if [[ $name == oidc-provider && -z $REALFLOW_OPENID && ,$CASES, == *,exchange-openid,* ]]; then
    REALFLOW_OPENID=$(node "$OIDC_DIR/realflow.js" "$base" openid) || die "oidc-provider: the OpenID real-flow check failed"
    log "$REALFLOW_OPENID"
  fi
  log "$name on port $port: exchange, reuse refusal, public exchange and introspection checked"
}
# stop_server I: stops server I and waits for it.
stop_server() {
  local pid=${SPIDS[$1]}
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# ---- machine state -------------------------------------------------------------
busy_3s() {
  local b0 t0 b1 t1
  read -r b0 t0 < <(machine_ticks)
  sleep 3
  read -r b1 t1 < <(machine_ticks)
  awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$(nproc)" 'BEGIN{printf "%.2f", n * b / t}'
}
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

# Redis commands so far, as "name calls usec" lines (usec: time the server
# spent executing them, a script's own commands counted in both).
redis_cmdstats() {
  redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\).*/\1 \2 \3/p' | sort
}

# ---- runs -------------------------------------------------------------------
# run_wrk KEY I PATH FILE EXPECT MODE SECONDS AUTH(1|0): fills the array R from RESULT.
declare -A R
run_wrk() {
  local key=$1 i=$2 path=$3 file=$4 expect=$5 mode=$6 secs=$7 with_auth=$8 hdr=()
  [[ $with_auth == 1 ]] && hdr=(-H "Authorization: Basic $(b64 "${CONF_ID[$i]}:${CONF_SECRET[$i]}")")
  local TIMEFORMAT='%U %S'
  { time wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 30s -s "$LUA" "${hdr[@]}" \
    "http://127.0.0.1:${PORTS[$i]}" -- "$file" "$path" "$expect" "$THREADS" "$mode" >"$WORK/$key.wrk"; } 2>"$WORK/$key.time"
  local line kv
  line=$(grep '^RESULT ' "$WORK/$key.wrk") || { cat "$WORK/$key.wrk" >&2; die "$key: no RESULT line from wrk"; }
  R=()
  for kv in ${line#RESULT }; do R[${kv%%=*}]=${kv#*=}; done
}

ROWS=()
IDLE_EACH=""
RETRIED=""
declare -A RPS SRV_US REDIS_CMDS
# measure CASE I: starts server I, warms it up, measures, stops it.
measure() {
  local case=$1 i=$2 name=${NAMES[$2]} key="$1-${NAMES[$2]}"
  local path file expect mode auth client batch="–" rate warm=$WARMUP
  case $case in
    exchange-confidential) path=${TOKEN_PATHS[$i]} expect='"access_token"' mode=seq auth=1 client=confidential ;;
    exchange-public) path=${TOKEN_PATHS[$i]} expect='"access_token"' mode=seq auth=0 client=public warm=$WARMUP_PUBLIC ;;
    introspect) path=${INTRO_PATHS[$i]} expect='"active":true' mode=repeat auth=1 client=confidential ;;
    exchange-openid) path=${TOKEN_PATHS[$i]} expect='"id_token"' mode=seq auth=0 client=public-openid warm=$WARMUP_PUBLIC ;;
  esac
  file="$WORK/bodies.txt"
  wait_idle
  local idle_before=$IDLE_BEFORE
  start_server "$i"
  local pid=${SPIDS[$i]}
  if [[ $mode == repeat ]]; then
    printf 'token=%s\n' "${AT[$i]}" >"$file"
    log "$key: warm-up ${warm}s"
    run_wrk "$key-warmup" "$i" "$path" "$file" "$expect" repeat "$warm" "$auth"
  else
    # A 1 s probe sizes the warm-up batch (a probe that ran out of codes is
    # repeated with four times as many); the warm-up's rate sizes the batch
    # of the measured run.
    local w=2000
    while :; do
      mint "$i" "$client" "$w" "$file"
      run_wrk "$key-probe" "$i" "$path" "$file" "$expect" seq 1 "$auth"
      ((R[exhausted] == 0)) && break
      ((w * 4 <= MAX_BATCH)) || die "$key: the probe keeps running out of codes"
      w=$((w * 4))
    done
    rate=$(awk -v n="${R[ok]}" -v d="${R[duration_us]}" 'BEGIN{printf "%.0f", n / (d / 1e6)}')
    w=$(awk -v r="$rate" -v d="$warm" -v h="$HEADROOM" -v m="$MAX_BATCH" \
      'BEGIN{b = int(r * d * h) + 1000; if (b > m) b = m; print b}')
    mint "$i" "$client" "$w" "$file"
    log "$key: warm-up ${warm}s with $w codes (probe rate $rate/s)"
    run_wrk "$key-warmup" "$i" "$path" "$file" "$expect" seq "$warm" "$auth"
    if ((R[exhausted] == 0)); then
      rate=$(awk -v n="${R[ok]}" -v d="${R[duration_us]}" -v p="$rate" 'BEGIN{r = n / (d / 1e6); printf "%.0f", (r > p ? r : p)}')
    fi
    batch=$(awk -v r="$rate" -v d="$DURATION" -v h="$HEADROOM" -v m="$MAX_BATCH" \
      'BEGIN{b = int(r * d * h) + 1000; if (b > m) b = m; print b}')
  fi
  local attempt=0
  while :; do
    if [[ $mode == seq ]]; then
      log "$key: minting $batch codes (rate so far $rate/s)"
      mint "$i" "$client" "$batch" "$file"
      sleep 1
    fi
    local s0 s1 r0=0 r1=0 mb0 mt0 mb1 mt1 w0 w1 rss
    w0=$(date +%s%N)
    s0=$(cpu_ticks "$pid")
    [[ -n $REDIS_PID ]] && r0=$(cpu_ticks "$REDIS_PID")
    [[ $name == authstore-redis ]] && redis_cmdstats >"$WORK/cs0"
    read -r mb0 mt0 < <(machine_ticks)
    log "$key: measuring for ${DURATION}s, $CONNECTIONS connections, $THREADS threads"
    run_wrk "$key" "$i" "$path" "$file" "$expect" "$mode" "$DURATION" "$auth"
    read -r mb1 mt1 < <(machine_ticks)
    s1=$(cpu_ticks "$pid")
    [[ -n $REDIS_PID ]] && r1=$(cpu_ticks "$REDIS_PID")
    w1=$(date +%s%N)
    [[ $name == authstore-redis ]] && redis_cmdstats >"$WORK/cs1"
    rss=$(awk '/^VmHWM:/{printf "%.0f", $2 / 1024}' "/proc/$pid/status")
    ((R[exhausted] == 0)) && break
    attempt=$((attempt + 1))
    ((attempt < 3 && batch < MAX_BATCH)) || die "$key: the batch of $batch codes ran out during the run"
    log "$key: $batch codes ran out during the run; retrying with twice as many"
    batch=$((batch * 2 > MAX_BATCH ? MAX_BATCH : batch * 2))
  done
  stop_server "$i"
  local errors=$((R[connect] + R[read] + R[write] + R[timeout]))
  if ((R[bad] != 0 || R[non2xx] != 0)); then
    grep '^SAMPLE_BAD' "$WORK/$key.wrk" >&2 || true
    die "$key: ${R[bad]} responses were not 200 with $expect (non-2xx: ${R[non2xx]})"
  fi
  ((errors == 0)) || die "$key: $errors socket errors (connect ${R[connect]} read ${R[read]} write ${R[write]} timeout ${R[timeout]})"
  ((R[requests] > 0 && R[ok] == R[requests])) || die "$key: ${R[ok]} good responses of ${R[requests]}"

  local rps secs window srv_us srv_cores redis_cores wrk_cores busy other p50 p99 label auth_label
  rps=$(awk -v n="${R[requests]}" -v d="${R[duration_us]}" 'BEGIN{printf "%.0f", n / (d / 1e6)}')
  RPS[$key]=$rps
  secs=$(awk -v d="${R[duration_us]}" 'BEGIN{print d / 1e6}')
  # Cores are averaged over the whole window the CPU times span (wrk's start-up,
  # which reads the body file, to its exit), not only wrk's timed part.
  window=$(awk -v a="$w0" -v b="$w1" 'BEGIN{print (b - a) / 1e9}')
  srv_us=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v n="${R[requests]}" 'BEGIN{printf "%.0f", t / hz * 1e6 / n}')
  srv_cores=$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v s="$window" 'BEGIN{printf "%.2f", t / hz / s}')
  redis_cores=$(awk -v t=$((r1 - r0)) -v hz="$HZ" -v s="$window" 'BEGIN{printf "%.2f", t / hz / s}')
  wrk_cores=$(tail -1 "$WORK/$key.time" | awk -v s="$window" '{printf "%.2f", ($1 + $2) / s}')
  busy=$(awk -v b=$((mb1 - mb0)) -v t=$((mt1 - mt0)) -v c="$(nproc)" 'BEGIN{printf "%.2f", c * b / t}')
  other=$(awk -v b="$busy" -v a="$srv_cores" -v r="$redis_cores" -v w="$wrk_cores" 'BEGIN{x = b - a - r - w; if (x > -0.005 && x < 0.005) x = 0; printf "%.2f", x}')
  [[ $name == authstore-redis ]] || redis_cores="–"
  # Something else ran during the measured run: measure the case again.
  if awk -v o="$other" -v m="$OTHER_MAX" 'BEGIN{exit !(o > m)}' && ((TRY < TRIES)); then
    log "$key: other processes used $other cores during the run (more than $OTHER_MAX); measuring it again"
    CONTAMINATED=1
    return 0
  fi
  IDLE_EACH+=" $idle_before"
  ((TRY > 1)) && RETRIED+=" $key (run $TRY)"
  SRV_US[$key]=$srv_us
  if [[ $name == authstore-redis ]]; then
    # Per request (requests still in flight at the end make them slightly above whole numbers).
    # Calls and execution µs per request; EVALSHA's µs include the commands its script runs.
    REDIS_CMDS[$key]=$(join -a2 -e 0 -o '2.1,1.2,2.2,1.3,2.3' "$WORK/cs0" "$WORK/cs1" |
      awk -v n="${R[requests]}" '$1 != "info" && $3 - $2 > 0 {printf "%s%s %.2f (%.1f µs)", sep, toupper($1), ($3 - $2) / n, ($5 - $4) / n; sep=", "}')
  fi
  p50=$(awk -v x="${R[p50_us]}" 'BEGIN{printf "%.2f", x / 1000}')
  p99=$(awk -v x="${R[p99_us]}" 'BEGIN{printf "%.2f", x / 1000}')
  case $case in
    exchange-confidential) label="code exchange" auth_label="client_secret_basic" ;;
    exchange-public) label="code exchange" auth_label="none (public, PKCE only)" ;;
    introspect) label="introspection" auth_label="client_secret_basic" ;;
    # (No "RS256" in labels: the thousands separator below would split it.)
    exchange-openid) label="ID token issuance (code exchange, scope openid)" auth_label="none (public, PKCE only)" ;;
  esac
  ROWS+=("| $label | $auth_label | ${LABELS[$i]} | ${STORES[$i]} | $rps | $p50 | $p99 | ${R[requests]} | $batch | $srv_cores | $redis_cores | $wrk_cores | $other | $srv_us | $rss |")
  log "$key: $rps req/s, p50 ${R[p50_us]} µs, p99 ${R[p99_us]} µs, ${R[ok]}/${R[requests]} good"
}

for c in ${CASES//,/ }; do
  case $c in exchange-confidential | exchange-public | introspect | exchange-openid) ;; *) die "unknown case $c" ;; esac
  for i in "${!NAMES[@]}"; do
    for TRY in $(seq 1 "$TRIES"); do
      CONTAMINATED=0
      measure "$c" "$i"
      ((CONTAMINATED == 0)) && break
    done
  done
done

# ---- report -----------------------------------------------------------------
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
echo
echo "## OAuth token endpoint vs node-oidc-provider: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s; ${WARMUP_PUBLIC}s before public exchanges)"
echo
echo "- $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'); node $(node --version); oidc-provider $OIDC_VERSION; $(redis-server --version | cut -d' ' -f1-3); $(rustc --version)"
if [[ -n ${IDX[authstore-memory]:-}${IDX[authstore-redis]:-} ]]; then
  i=${IDX[authstore-memory]:-${IDX[authstore-redis]:-}}
  echo "- authstore-server's client-secret hashing: $(grep -o 'argon2id [0-9]* KiB x [0-9]* passes' "$WORK/${NAMES[$i]}.log") (its default, OAuthConfig::default()), at most one run per core, and a verified secret remembered in the process for $(grep -o 'remembered [0-9]* s' "$WORK/${NAMES[$i]}.log" | grep -o '[0-9]*') s; oidc-provider compares a static client's plaintext secret with crypto.timingSafeEqual"
fi
echo "- authstore at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(not a git checkout)")$([[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && echo ' (work tree has changes)'); $(nproc) cores shared by wrk, the server ($ALLOCATOR allocator) and redis-server; busy cores in the 3 s before each case:$IDLE_EACH"
echo
echo "| case | client auth | server | store | requests/s | p50 ms | p99 ms | requests | codes minted | server cores | redis-server cores | wrk cores | other cores | server CPU µs/req | server peak RSS MiB |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do echo "$row" | commas; done
echo
[[ -n $RETRIED ]] && echo "Measured again because other processes ran during an earlier attempt (over $OTHER_MAX cores):$RETRIED."
echo "Every response of every measured run was 200 and carried \"access_token\" (exchanges), \"id_token\" (ID token issuance) or \"active\":true (introspection), with no socket errors and no code used twice (checked per response by the wrk script)."
for i in "${!NAMES[@]}"; do
  echo "Sample exchange response, ${NAMES[$i]}: \`${SAMPLE_TOKEN[$i]}\`"
  [[ -n ${SAMPLE_ID_TOKEN[$i]:-} ]] && echo "Sample ID token (header, claims), ${NAMES[$i]}: \`${SAMPLE_ID_TOKEN[$i]}\`"
done
[[ -n $REALFLOW ]] && echo "oidc-provider real-flow check: \`$REALFLOW\`"
[[ -n $REALFLOW_OPENID ]] && echo "oidc-provider real-flow check, OpenID codes: \`$REALFLOW_OPENID\`"
for s in authstore-memory authstore-redis oidc-provider; do
  c=${SRV_US[exchange-confidential-$s]:-} p=${SRV_US[exchange-public-$s]:-}
  [[ -n $c && -n $p ]] || continue
  echo "Server CPU per exchange, $s: client_secret_basic $c µs, public $p µs, difference $((c - p)) µs$( ((c > p)) && awk -v c="$c" -v p="$p" 'BEGIN{printf " (%.1f%% of a confidential exchange)", 100 * (c - p) / c}')." | commas
done
for c in ${CASES//,/ }; do
  [[ -n ${REDIS_CMDS[$c-authstore-redis]:-} ]] && echo "Redis commands per request, $c on authstore-redis, with the server's execution time per request (EVALSHA's includes its script's commands): ${REDIS_CMDS[$c-authstore-redis]}."
done
echo
if [[ -n ${IDX[oidc-provider]:-} ]]; then
  echo "| case | client auth | authstore store | authstore req/s | oidc-provider req/s | ratio | target ≥ ${TARGET}× |"
  echo "|---|---|---|---:|---:|---:|---|"
  for c in ${CASES//,/ }; do
    for s in authstore-memory authstore-redis; do
      [[ -n ${RPS[$c-$s]:-} ]] || continue
      a=${RPS[$c-$s]} b=${RPS[$c-oidc-provider]}
      ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a / b}')
      verdict=$(awk -v a="$a" -v b="$b" -v t="$TARGET" 'BEGIN{ r = a / b; m = (1 - r / t) * 100; if (r >= t) print "met"; else if (m >= 99.5) printf "MISSED by %.1f%%", m; else printf "MISSED by %.0f%%", m }')
      case $c in
        exchange-confidential) l="code exchange | client_secret_basic" ;;
        exchange-public) l="code exchange | none (public)" ;;
        introspect) l="introspection | client_secret_basic" ;;
        exchange-openid) l="ID token issuance | none (public)" ;;
      esac
      echo "| $l | ${STORES[${IDX[$s]}]} | $a | $b | ${ratio}× | $verdict |" | commas
    done
  done
fi
