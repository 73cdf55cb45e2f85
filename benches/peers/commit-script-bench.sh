#!/usr/bin/env bash
# The Redis commit script of a code exchange, alone: redis-server's execution
# time per EVALSHA (INFO commandstats) on a private server, next to a script
# that only returns, called with the same keys and arguments.
#
# The arguments are those of a public-client code exchange (`Store::commit`
# of a grant check, the code's tombstone, an access token, a refresh token and
# its head, each token a member of the grant's index), with values of the
# sizes a real exchange sends. The grant is fixed; the code is written in
# upsert mode (so every call writes it) and the token keys are fresh per call
# (`__rand_int__`), so every call does the whole work. Every run starts from
# an empty server holding only the grant; its calls add 3 keys each, and 3
# members to the grant's index set.
#
# Usage: bash benches/peers/commit-script-bench.sh
# Environment: N=20000 calls per run, C=1 redis-benchmark clients, ROUNDS=2
# (each round runs the empty script, then the commit script), SCRIPTS_RS=the
# scripts.rs to take the script from (default: this tree's; for an A/B, e.g.
# `git show REV:crates/authstore/src/redis/scripts.rs > /tmp/old.rs`).

set -euo pipefail
N=${N:-20000}
C=${C:-1}
ROUNDS=${ROUNDS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
log() { echo "commit-script-bench: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=../lib/ports.sh
source "$ROOT/benches/lib/ports.sh"
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
  die "needs redis-server and redis-benchmark (Debian package redis-server)"

WORK=$(mktemp -d)
free_port PORT
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK" --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do
  [[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && break
  sleep 0.1
done

# The script exactly as the store sends it: PRELUDE, PUT_ONE, then COMMIT's body.
python3 - "${SCRIPTS_RS:-$ROOT/crates/authstore/src/redis/scripts.rs}" > "$WORK/commit.lua" <<'EOF'
import re, sys
s = open(sys.argv[1]).read()
const = lambda name: re.search(r'const ' + name + r': &str = r#"(.*?)"#;', s, re.S).group(1)
body = re.search(r'pub\(crate\) static COMMIT.*?r#"(.*?)"#', s, re.S).group(1)
sys.stdout.write(const('PRELUDE') + const('PUT_ONE') + body)
EOF
COMMIT=$(redis-cli -p "$PORT" SCRIPT LOAD "$(cat "$WORK/commit.lua")")
EMPTY=$(redis-cli -p "$PORT" SCRIPT LOAD "return 1")

G='{j57R37drDzJkiSKUIobS_WB9T4Ve_eekC-fturiK2eFR}'
ID='"grant_id":"j57R37drDzJkiSKUIobS_WB9T4Ve_eekC-fturiK2eFR","client_id":"lb9yUfexI5XCGJUud_uOG92QJcYctytmpb9DnQ6lxew"'
CODE="{$ID,\"redirect_uri\":\"https://client.example/callback\",\"code_challenge\":\"QA00hN6TOuITqECU614YkGZNO7pqaON0EpLqM5TI9BA\",\"used\":true}"
ACCESS="{$ID,\"subject\":\"u-bench\",\"scope\":[\"offline_access\"],\"issued_at\":1796415225812,\"expires_at\":1796418825812}"
REFRESH="{$ID,\"issued_at\":1796415225812}"
HEAD='{"head":"cb62cd134165d88a9cc6c127168a364015eb0d9d7ba8a06a868ef03c5b0ae2e7","previous":null,"rotated_at":0}'
H=e14b9227fef609245cbe87e32a1c2651fc9ca8b72f93e5fdde489dff2b17f5ad
IX="oauth-grant-ix:$G"

GRANT=$(printf '\x1f1\x1f\x1f{%s,"subject":"u-bench","scope":["offline_access"],"resources":[],"issued_at":1796415225812}' "$ID")

run() { # sha -> usec_per_call
  redis-cli -p "$PORT" FLUSHALL >/dev/null
  redis-cli -p "$PORT" SET "authstore:oauth-grant:$G" "$GRANT" >/dev/null
  redis-cli -p "$PORT" CONFIG RESETSTAT >/dev/null
  redis-benchmark -p "$PORT" -c "$C" -n "$N" -r 1000000000 -q EVALSHA "$1" 5 \
    "authstore:oauth-grant:$G" "authstore:oauth-code:$G$H" \
    "authstore:oauth-at:${G}__rand_int__$H" "authstore:oauth-rt:${G}__rand_int__$H" \
    "authstore:oauth-rt-head:${G}__rand_int__" "authstore:$(printf '\x1e')" s 1 1 \
    u 0 86400000 "$CODE" "oauth-code:$G$H" '' 0 \
    c 0 3600000 "$ACCESS" "oauth-at:${G}__rand_int__$H" '' 1 "$IX" \
    c 0 2592000000 "$REFRESH" "oauth-rt:${G}__rand_int__$H" '' 1 "$IX" \
    c 0 2592000000 "$HEAD" "oauth-rt-head:${G}__rand_int__" '' 1 "$IX" >/dev/null
  redis-cli -p "$PORT" INFO commandstats | tr -d '\r' | grep '^cmdstat_evalsha:' | sed 's/.*usec_per_call=\([0-9.]*\).*/\1/'
}

echo "| round | empty script µs per EVALSHA | commit script µs per EVALSHA | commands inside, per call (their execution µs) |"
echo "|---:|---:|---:|---|"
for r in $(seq 1 "$ROUNDS"); do
  empty=$(run "$EMPTY")
  commit=$(run "$COMMIT")
  inside=$(redis-cli -p "$PORT" INFO commandstats | tr -d '\r' | grep '^cmdstat_' | grep -Ev '^cmdstat_(evalsha|config|info|ping|script)[:|]' |
    sed 's/^cmdstat_\([a-z]*\):calls=\([0-9]*\),usec=\([0-9]*\).*/\1 \2 \3/' |
    awk -v n="$N" '{printf "%s%s %.0f (%.1f µs)", sep, toupper($1), $2 / n, $3 / n; sep = ", "}')
  echo "| $r | $empty | $commit | $inside |"
done
echo
echo "$N calls per run, $C client(s), $(redis-server --version | cut -d' ' -f1-3), $(nproc) cores; each run starts from an empty server holding the grant."
