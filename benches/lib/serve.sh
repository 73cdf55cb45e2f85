# Provisioning for the scripts that run `authstore serve` under the load
# generator crates/authstore-server/examples/fault_load (sourced, bash, after
# ports.sh). Uses the caller's `die`, `BIN` (the authstore binary) and `PIDS`
# (an array of the processes the caller's cleanup stops).
#
#   serve_secrets                 exports fresh FAULT_LOAD_PASSWORD,
#                                 FAULT_LOAD_INTROSPECTOR_SECRET, AUTHSTORE_FORM_SECRET
#   serve_config FILE USERS GRACE NAME
#                                 writes the config: USERS users load-user-0…,
#                                 the public client load-app, the trusted
#                                 introspector load-introspector, [tokens]
#                                 refresh_grace GRACE (e.g. 10s); NAME says
#                                 which script's servers it configures;
#                                 SERVE_TOP_EXTRA, SERVE_TOKENS_EXTRA and
#                                 SERVE_SESSIONS_EXTRA (env, default empty) are
#                                 lines added at the top level, to [tokens] and
#                                 to [sessions]
#   serve_start PIDVAR BASEVAR LOG STORE_URL CONFIG [ISSUER_PORT]
#                                 starts a server on a free loopback port, its
#                                 output to LOG; sets PIDVAR to its pid and
#                                 BASEVAR to its base URL. The issuer is
#                                 http://127.0.0.1:ISSUER_PORT (default: its own port).
#   serve_wait PID BASE LOG LABEL until BASE/health answers 200 (at most 30 s);
#                                 dies, showing LOG's tail, if the server
#                                 exits or does not come up

serve_secrets() {
  export FAULT_LOAD_PASSWORD FAULT_LOAD_INTROSPECTOR_SECRET AUTHSTORE_FORM_SECRET
  FAULT_LOAD_PASSWORD=$(openssl rand -hex 16)
  FAULT_LOAD_INTROSPECTOR_SECRET=$(openssl rand -hex 32)
  AUTHSTORE_FORM_SECRET=$(openssl rand -hex 32)
}

serve_config() {
  local file=$1 users=$2 grace=$3 name=$4 i
  {
    cat <<EOF
# The servers of $name. The store comes from
# AUTHSTORE_STORE. Limits are raised because every client comes from 127.0.0.1,
# and hashing is cheap so that the load is on the store, not on argon2id.
dev_cookies = true
key_rotation = "off"
${SERVE_TOP_EXTRA:-}

[openid]
enabled = false

[rate_limits]
logins_per_minute = 60000
page_requests_per_minute = 60000
machine_requests_per_minute = 60000
secret_checks_per_minute = 60000
secret_checks_per_ip_per_minute = 60000

[hashing]
memory_kib = 1024
iterations = 1

[tokens]
refresh_grace = "$grace"
${SERVE_TOKENS_EXTRA:-}

[sessions]
${SERVE_SESSIONS_EXTRA:-}

[introspection]
trusted = ["load-introspector"]

[[clients]]
name = "Load app"
client_id = "load-app"
public = true
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["offline_access"]

[[clients]]
name = "Load introspector"
client_id = "load-introspector"
secret_env = "FAULT_LOAD_INTROSPECTOR_SECRET"
redirect_uris = ["https://introspector.example/callback"]
grant_types = ["client_credentials"]
EOF
    for i in $(seq 0 $((users - 1))); do
      printf '\n[[users]]\nname = "load-user-%d"\npassword_env = "FAULT_LOAD_PASSWORD"\n' "$i"
    done
  } >"$file"
}

serve_start() {
  local _serve_port _serve_pid _serve_issuer
  free_port _serve_port
  _serve_issuer=${6:-$_serve_port}
  AUTHSTORE_STORE=$4 RUST_LOG="info,authstore_server::access=warn" \
    "$BIN" serve --config "$5" --listen "127.0.0.1:$_serve_port" \
    --issuer "http://127.0.0.1:$_serve_issuer" >"$3" 2>&1 &
  _serve_pid=$!
  PIDS+=("$_serve_pid")
  printf -v "$1" '%s' "$_serve_pid"
  printf -v "$2" '%s' "http://127.0.0.1:$_serve_port"
}

serve_health() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/health" || true) == 200 ]]; }

serve_wait() {
  local pid=$1 base=$2 log=$3 label=$4
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "$label exited"; }
    serve_health "$base" && break
    sleep 0.1
  done
  serve_health "$base" || { tail -20 "$log" >&2; die "$label did not come up"; }
}
