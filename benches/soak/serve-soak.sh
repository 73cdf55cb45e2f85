#!/usr/bin/env bash
# A soak of `authstore serve`: steady OAuth load for a long time, recording
# how the server's memory, file descriptors and answer times evolve.
#
# For each store (the in-memory store and Redis, at the same time) it starts
# one `authstore serve` process on a free loopback port and one load generator
# crates/authstore-server/examples/fault_load against it at a fixed RATE (real
# code flows: sign-in and consent pages, PKCE, code exchange, refresh
# rotation, introspection, revocation, replays of redeemed codes and rotated
# refresh tokens). The servers are provisioned as by
# benches/fault/serve-store-failure.sh (benches/lib/serve.sh).
#
#   memory: memory://, with the entry bound and eviction policy `serve` gives
#           a memory:// URL that names none (1,000,000 entries, soonest expiry
#           evicted first). With the default lifetimes below and RATE=400
#           the store levels off at about 78,000 live entries; with the
#           server's own defaults (1 h access tokens, 30-day refresh
#           tokens) nothing expires within a run, and a run of more than
#           about 800,000 requests (RATE x DURATION) fills the bound: tokens
#           the store evicts then show as lost in the checks after the load.
#   redis:  a private redis-server on a free loopback port, appendonly no and
#           no snapshots: nothing is persisted, which a soak does not need
#           (the store is never restarted), so disk writes do not disturb it.
#
# Every SAMPLE_SECS a sampler records, per server process: its RSS (VmRSS of
# /proc/PID/status), open file descriptors (entries of /proc/PID/fd), threads
# and CPU seconds; for Redis also redis-server's used_memory, RSS and key
# count. Each generator writes its answers per WINDOW_SECS window (requests by
# status class, p50/p99/max ms) and, after the load, introspects every token
# it was given (none may be lost). Then the script prints a summary per store
# (requests, errors, RSS after the warm-up / at the end / max, RSS growth per
# hour from a least-squares slope over the samples after the warm-up, fds
# min/max, p99 of the first vs the last COMPARE_SECS) and draws soak.png
# (benches/soak/plot.py, matplotlib; installed with pip if missing).
#
# Usage: bash benches/soak/serve-soak.sh
# Environment:
#   STORES=memory,redis   stores to soak, concurrently, one server each
#   DURATION=1800         seconds of load
#   RATE=400              requests/s of each store's generator (about 40% of
#                         them are /token and /revoke requests, which the
#                         config allows 60000 per minute per IP: RATE stays
#                         below about 2000)
#   WORKERS=16            concurrent flows per generator
#   SAMPLE_SECS=10        seconds between samples of the processes
#   WINDOW_SECS=10        seconds per row of the generators' timelines
#   WARMUP=60             seconds left out of the RSS start figure and slope
#   COMPARE_SECS=300      the first and last spans whose p99 are compared
#   CHECK_LIMIT=900       seconds the token checks after the load may take
#   CHECK_CONCURRENCY=16  concurrent introspections of those checks
#   REFRESH_GRACE=10s     the servers' [tokens] refresh_grace (their default)
#   ACCESS_TTL=120 REFRESH_TTL=300 TOMBSTONE_TTL=120 AUDIT_RETENTION=300
#   SESSION_IDLE=300 CLEANUP_INTERVAL=0
#                         seconds: the servers' access_token_ttl,
#                         refresh_token_ttl, code_tombstone_ttl,
#                         audit_retention, [sessions] idle_timeout and
#                         cleanup_interval, short so that what a run writes
#                         also expires within it and the store's size can
#                         level off (0 keeps the server's default: for
#                         cleanup_interval 5 minutes). The generator then
#                         expects tokens past their TTL to be inactive.
#   SHORT=1               a quick run: DURATION=60 RATE=100 SAMPLE_SECS=5
#                         WINDOW_SECS=5 WARMUP=20 COMPARE_SECS=20
#   LOAD_PROFILE=release  the generator's cargo profile; "debug" reuses the
#                         dependencies a test build compiled. The server is
#                         always release.
#   SKIP_BUILD=1          use the binaries already built
#   OUT_DIR=DIR           where the results go (default: a new /tmp/serve-soak.*);
#                         kept after the run
#   PLOT_OUT=FILE         also copy the plot there
#
# Results in OUT_DIR: STORE-samples.csv (the sampler), STORE-timeline.csv and
# STORE.json (each generator), STORE-load.txt / STORE-load.err (its report),
# STORE-server.log, STORE-metrics.txt (the server's /metrics at the end),
# redis-stats.txt (`authstore stats` of Redis at the end: entries per
# namespace), redis-keys.txt (every key redis-server holds at the end, entries
# per namespace and index sets per kind), redis/redis.log, meta.json, summary.txt, soak.png.
#
# Exit status: 0 when every generator reports no violation, every server ran
# to the end, no server log says "panicked" and the plot was drawn; 1
# otherwise. Everything listens on 127.0.0.1 only, never on 6379, and is
# stopped on exit.
set -euo pipefail

SHORT=${SHORT:-0}
if [[ $SHORT == 1 ]]; then
  DURATION=${DURATION:-60} RATE=${RATE:-100} SAMPLE_SECS=${SAMPLE_SECS:-5}
  WINDOW_SECS=${WINDOW_SECS:-5} WARMUP=${WARMUP:-20} COMPARE_SECS=${COMPARE_SECS:-20}
fi
STORES=${STORES:-memory,redis}
DURATION=${DURATION:-1800}
RATE=${RATE:-400}
WORKERS=${WORKERS:-16}
SAMPLE_SECS=${SAMPLE_SECS:-10}
WINDOW_SECS=${WINDOW_SECS:-10}
WARMUP=${WARMUP:-60}
COMPARE_SECS=${COMPARE_SECS:-300}
CHECK_LIMIT=${CHECK_LIMIT:-900}
CHECK_CONCURRENCY=${CHECK_CONCURRENCY:-16}
REFRESH_GRACE=${REFRESH_GRACE:-10s}
USERS=$WORKERS

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET_DIR/release/authstore"
LOAD_PROFILE=${LOAD_PROFILE:-release}
LOAD="$TARGET_DIR/$LOAD_PROFILE/examples/fault_load"

log() { echo "serve-soak: $*" >&2; }
die() { log "$*"; exit 1; }
for v in DURATION WORKERS SAMPLE_SECS WINDOW_SECS COMPARE_SECS CHECK_LIMIT CHECK_CONCURRENCY; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a whole number (> 0)"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number"
((WARMUP < DURATION)) || die "WARMUP must be less than DURATION"
[[ $RATE =~ ^[0-9]+([.][0-9]+)?$ ]] && awk -v r="$RATE" 'BEGIN{exit !(r > 0)}' || die "RATE must be a number (> 0)"
[[ $LOAD_PROFILE == release || $LOAD_PROFILE == debug ]] || die "LOAD_PROFILE must be release or debug"
[[ $REFRESH_GRACE =~ ^[0-9]+s$ ]] || die "REFRESH_GRACE must be whole seconds, e.g. 10s"
STORE_LIST=()
for s in ${STORES//,/ }; do
  case $s in memory | redis) ;; *) die "unknown store $s (memory, redis)" ;; esac
  [[ " ${STORE_LIST[*]} " == *" $s "* ]] || STORE_LIST+=("$s")
done
((${#STORE_LIST[@]} > 0)) || die "STORES names no store"
for tool in curl openssl python3; do command -v "$tool" >/dev/null || die "$tool is missing"; done
if [[ " ${STORE_LIST[*]} " == *" redis "* ]]; then
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server and redis-cli are needed (Debian package redis-server)"
fi

# ---- build ------------------------------------------------------------------
# The same commands as scripts/test, so that nothing already built is rebuilt.
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building the release binary and the load generator ($LOAD_PROFILE)"
  (cd "$ROOT" && cargo build --release --locked -p authstore-server --bin authstore >&2)
  if [[ $LOAD_PROFILE == release ]]; then
    (cd "$ROOT" && cargo build --release --locked -p authstore-server --all-features --example fault_load >&2)
  else
    (cd "$ROOT" && cargo build --locked -p authstore-server --all-features --example fault_load >&2)
  fi
fi
[[ -x $BIN && -x $LOAD ]] || die "$BIN or $LOAD is missing (build them, or unset SKIP_BUILD)"

# ---- output and cleanup -----------------------------------------------------
if [[ -n ${OUT_DIR:-} ]]; then
  mkdir -p "$OUT_DIR"
  OUT_DIR=$(cd "$OUT_DIR" && pwd)
else
  OUT_DIR=$(mktemp -d /tmp/serve-soak.XXXXXX)
fi
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  log "results kept in $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$HERE/../lib/ports.sh"
. "$HERE/../lib/serve.sh"
now_ms() { date +%s%3N; }

ACCESS_TTL=${ACCESS_TTL:-120} REFRESH_TTL=${REFRESH_TTL:-300}
TOMBSTONE_TTL=${TOMBSTONE_TTL:-120} AUDIT_RETENTION=${AUDIT_RETENTION:-300}
SESSION_IDLE=${SESSION_IDLE:-300}
CLEANUP_INTERVAL=${CLEANUP_INTERVAL:-0}
for v in ACCESS_TTL REFRESH_TTL TOMBSTONE_TTL AUDIT_RETENTION SESSION_IDLE CLEANUP_INTERVAL; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number of seconds"
done
SERVE_TOP_EXTRA="" SERVE_TOKENS_EXTRA="" TTL_ARGS=()
((AUDIT_RETENTION > 0)) && SERVE_TOP_EXTRA="audit_retention = \"${AUDIT_RETENTION}s\""
((CLEANUP_INTERVAL > 0)) && SERVE_TOP_EXTRA+=$'\n'"cleanup_interval = \"${CLEANUP_INTERVAL}s\""
((ACCESS_TTL > 0)) && { SERVE_TOKENS_EXTRA+="access_token_ttl = \"${ACCESS_TTL}s\""$'\n'; TTL_ARGS+=(--access-ttl "$ACCESS_TTL"); }
((REFRESH_TTL > 0)) && { SERVE_TOKENS_EXTRA+="refresh_token_ttl = \"${REFRESH_TTL}s\""$'\n'; TTL_ARGS+=(--refresh-ttl "$REFRESH_TTL"); }
((TOMBSTONE_TTL > 0)) && SERVE_TOKENS_EXTRA+="code_tombstone_ttl = \"${TOMBSTONE_TTL}s\""$'\n'
SERVE_SESSIONS_EXTRA=""
((SESSION_IDLE > 0)) && SERVE_SESSIONS_EXTRA="idle_timeout = \"${SESSION_IDLE}s\""
serve_secrets
CONFIG="$OUT_DIR/authstore.toml"
serve_config "$CONFIG" "$USERS" "$REFRESH_GRACE" benches/soak/serve-soak.sh

# ---- Redis ------------------------------------------------------------------
REDIS_PID="" REDIS_PORT=""
if [[ " ${STORE_LIST[*]} " == *" redis "* ]]; then
  free_port REDIS_PORT
  mkdir -p "$OUT_DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$OUT_DIR/redis" \
    --appendonly no --save "" --daemonize no \
    --logfile "$OUT_DIR/redis/redis.log" >/dev/null 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 200); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true) == PONG ]] && break
    sleep 0.05
  done
  [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true) == PONG ]] ||
    die "redis-server did not answer on port $REDIS_PORT"
fi

# ---- servers ----------------------------------------------------------------
declare -A SERVER_PID BASE STORE_URL
for s in "${STORE_LIST[@]}"; do
  case $s in
    memory) STORE_URL[$s]="memory://" ;;
    redis) STORE_URL[$s]="redis://127.0.0.1:$REDIS_PORT" ;;
  esac
  serve_start pid base "$OUT_DIR/$s-server.log" "${STORE_URL[$s]}" "$CONFIG"
  SERVER_PID[$s]=$pid BASE[$s]=$base
done
for s in "${STORE_LIST[@]}"; do
  serve_wait "${SERVER_PID[$s]}" "${BASE[$s]}" "$OUT_DIR/$s-server.log" "the $s server"
  [[ $(cat "/proc/${SERVER_PID[$s]}/comm" 2>/dev/null) == authstore ]] ||
    die "pid ${SERVER_PID[$s]} is not the $s server"
  log "$s: authstore serve pid ${SERVER_PID[$s]} on ${BASE[$s]} (store ${STORE_URL[$s]})"
done

# ---- sampler ----------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
PROGRESS_SECS=$((SHORT == 1 ? 20 : 60))
SAMPLE_HEADER="elapsed_s,phase,rss_kb,fds,threads,cpu_s,redis_used_memory_bytes,redis_rss_kb,redis_keys"

# proc_stats PID: "RSS_KB THREADS FDS CPU_S" of a live process, or nothing.
proc_stats() {
  local pid=$1 rss threads fds stat ticks
  [[ -r /proc/$pid/status ]] || return 1
  read -r rss threads < <(awk '/^VmRSS:/{r=$2} /^Threads:/{t=$2} END{print r+0, t+0}' "/proc/$pid/status" 2>/dev/null) || return 1
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # utime and stime: fields 14 and 15, the 12th and 13th after the ")" ending the name.
  ticks=$(awk '{print $12 + $13}' <<<"${stat##*) }")
  echo "$rss $threads $fds $(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", t / hz}')"
}

# redis_stats: "USED_MEMORY_BYTES RSS_KB KEYS" of the private redis-server.
redis_stats() {
  local used rss keys
  used=$(redis-cli -p "$REDIS_PORT" info memory 2>/dev/null | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$REDIS_PID/status" 2>/dev/null || true)
  keys=$(redis-cli -p "$REDIS_PORT" dbsize 2>/dev/null | tr -d '\r' || true)
  echo "${used:-} ${rss:-} ${keys:-}"
}

# Samples every SAMPLE_SECS from T0 (the load's start) until killed; a sample
# is "load" while it falls within DURATION, "check" after it (the token checks).
sampler() {
  local k=0 due now t phase s stats line rss threads fds cpu r_used r_rss r_keys progress next_progress=$PROGRESS_SECS
  for s in "${STORE_LIST[@]}"; do echo "$SAMPLE_HEADER" >"$OUT_DIR/$s-samples.csv"; done
  while :; do
    due=$((T0 + k * SAMPLE_SECS * 1000))
    now=$(now_ms)
    ((due > now)) && sleep "$(awk -v ms=$((due - now)) 'BEGIN{printf "%.3f", ms / 1000}')"
    now=$(now_ms)
    t=$(awk -v ms=$((now - T0)) 'BEGIN{printf "%.1f", ms / 1000}')
    phase=load
    ((k * SAMPLE_SECS > DURATION)) && phase=check
    progress=()
    for s in "${STORE_LIST[@]}"; do
      stats=$(proc_stats "${SERVER_PID[$s]}") || continue
      read -r rss threads fds cpu <<<"$stats"
      r_used="" r_rss="" r_keys=""
      [[ $s == redis ]] && read -r r_used r_rss r_keys <<<"$(redis_stats)"
      line="$t,$phase,$rss,$fds,$threads,$cpu,$r_used,$r_rss,$r_keys"
      echo "$line" >>"$OUT_DIR/$s-samples.csv"
      progress+=("$s: RSS $((rss / 1024)) MiB, fds $fds, threads $threads${r_used:+, redis-server used_memory $((r_used / 1048576)) MiB, keys $r_keys}")
    done
    ((${#progress[@]} > 0)) || progress=("no server is running")
    if ((k * SAMPLE_SECS >= next_progress)); then
      log "+${t%.*}s ($phase) $(IFS=';'; echo "${progress[*]}" | sed 's/;/; /g')"
      next_progress=$((next_progress + PROGRESS_SECS))
    fi
    k=$((k + 1))
  done
}

# ---- load -------------------------------------------------------------------
cat >"$OUT_DIR/meta.json" <<EOF
{"stores": "$(IFS=,; echo "${STORE_LIST[*]}")", "duration_s": $DURATION, "rate_per_store": $RATE,
 "workers": $WORKERS, "sample_secs": $SAMPLE_SECS, "window_secs": $WINDOW_SECS,
 "warmup_s": $WARMUP, "compare_secs": $COMPARE_SECS, "started": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
EOF
declare -A LOAD_PID
T0=$(now_ms)
for s in "${STORE_LIST[@]}"; do
  "$LOAD" --base "${BASE[$s]}" --users "$USERS" --workers "$WORKERS" \
    --refresh-grace "${REFRESH_GRACE%s}" --rate "$RATE" --duration "$DURATION" \
    --check-limit "$CHECK_LIMIT" --check-concurrency "$CHECK_CONCURRENCY" \
    --timeline-out "$OUT_DIR/$s-timeline.csv" --window-secs "$WINDOW_SECS" "${TTL_ARGS[@]}" \
    --json-out "$OUT_DIR/$s.json" >"$OUT_DIR/$s-load.txt" 2>"$OUT_DIR/$s-load.err" &
  LOAD_PID[$s]=$!
  PIDS+=("${LOAD_PID[$s]}")
done
sampler &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")
log "${DURATION}s of load at $RATE requests/s per store (${STORE_LIST[*]}), $WORKERS workers each; samples every ${SAMPLE_SECS}s into $OUT_DIR"

FAILED=0
declare -A STATUS PANICS EXITED
for s in "${STORE_LIST[@]}"; do
  STATUS[$s]=0
  wait "${LOAD_PID[$s]}" || STATUS[$s]=$?
  log "$s: the generator exited with status ${STATUS[$s]} at +$(awk -v ms=$(($(now_ms) - T0)) 'BEGIN{printf "%.1f", ms / 1000}')s (the token checks follow the ${DURATION}s of load)"
done
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true

for s in "${STORE_LIST[@]}"; do
  curl -s "${BASE[$s]}/metrics" >"$OUT_DIR/$s-metrics.txt" 2>/dev/null || true
  EXITED[$s]=0
  kill -0 "${SERVER_PID[$s]}" 2>/dev/null || EXITED[$s]=1
  kill "${SERVER_PID[$s]}" 2>/dev/null || true
  wait "${SERVER_PID[$s]}" 2>/dev/null || true
  PANICS[$s]=$(grep -c panicked "$OUT_DIR/$s-server.log" || true)
  if ((STATUS[$s] != 0 || PANICS[$s] != 0 || EXITED[$s] != 0)); then FAILED=1; fi
done
if [[ -n $REDIS_PID ]]; then
  # What Redis holds at the end, per namespace (the key up to its first ":").
  AUTHSTORE_STORE="redis://127.0.0.1:$REDIS_PORT" "$BIN" stats >"$OUT_DIR/redis-stats.txt" 2>&1 ||
    log "authstore stats failed on Redis (see $OUT_DIR/redis-stats.txt)"
  # Every key redis-server holds, by kind: entries per namespace, and index
  # sets (named prefix, 0x1E, index key) with their members, live or not.
  redis-cli -p "$REDIS_PORT" --scan 2>/dev/null | python3 -c '
import collections, sys
keys = collections.Counter()
for line in sys.stdin:
    k = line.rstrip("\n")
    if "\x1e" in k:
        rest = k.split("\x1e", 1)[1]
        keys["index set " + rest.split(":", 1)[0]] += 1
    else:
        rest = k.split(":", 1)[1] if ":" in k else k
        keys["entry " + rest.split(":", 1)[0]] += 1
for name, n in sorted(keys.items()):
    print(f"{n:>10}  {name}")
print(f"{sum(keys.values()):>10}  keys in all")
' >"$OUT_DIR/redis-keys.txt" || log "the key census of Redis failed"
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
fi

# ---- summary and plot -------------------------------------------------------
{
  echo "== serve-soak: DURATION=${DURATION}s RATE=$RATE/s per store WORKERS=$WORKERS SAMPLE_SECS=$SAMPLE_SECS WINDOW_SECS=$WINDOW_SECS WARMUP=${WARMUP}s =="
  for s in "${STORE_LIST[@]}"; do
    verdict=ok
    ((STATUS[$s] != 0 || PANICS[$s] != 0 || EXITED[$s] != 0)) && verdict=FAILED
    gone=""
    ((EXITED[$s] == 0)) || gone=", the server had exited before the end of the run"
    echo "$s: generator exit status ${STATUS[$s]}, panics in the server log ${PANICS[$s]}$gone: $verdict"
    if [[ -s $OUT_DIR/$s-load.err ]]; then
      grep -E 'violation|timeline|cannot|failed' "$OUT_DIR/$s-load.err" | sed 's/^/  /' || true
    fi
  done
} >"$OUT_DIR/summary.txt"
python3 "$HERE/summarize.py" "$OUT_DIR" >>"$OUT_DIR/summary.txt" 2>&1 || {
  echo "the summary could not be computed (python3 benches/soak/summarize.py $OUT_DIR)" >>"$OUT_DIR/summary.txt"
  FAILED=1
}
echo
cat "$OUT_DIR/summary.txt"
echo

if ! python3 -c 'import matplotlib' 2>/dev/null; then
  log "installing matplotlib"
  python3 -m pip install -q matplotlib >&2 ||
    python3 -m pip install -q --break-system-packages matplotlib >&2 ||
    log "matplotlib could not be installed"
fi
if MPLBACKEND=Agg python3 "$HERE/plot.py" "$OUT_DIR" "$OUT_DIR/soak.png"; then
  log "plot: $OUT_DIR/soak.png"
  if [[ -n ${PLOT_OUT:-} ]]; then
    cp "$OUT_DIR/soak.png" "$PLOT_OUT"
    log "plot copied to $PLOT_OUT"
  fi
else
  log "the plot could not be drawn (python3 benches/soak/plot.py $OUT_DIR $OUT_DIR/soak.png)"
  FAILED=1
fi
exit "$FAILED"
