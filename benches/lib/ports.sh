# Free loopback ports for the benchmark and fault scripts (sourced, bash).
#
# `free_port VAR` sets VAR to a port nothing uses: not listened on, not used
# by any socket (also a client's), never 6379 or 5432 (where system servers
# may run), and not handed out before by this shell. Ports come from below
# the kernel's ephemeral range, so no client connection takes one between
# the check and the bind. It sets a variable rather than printing, because
# a $(...) subshell would forget the ports already handed out. Calls `die`
# (the caller's) when none is found.

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
  command -v ss >/dev/null && [[ -n $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]
}

PORTS_EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
PORTS_TAKEN=" 6379 5432 "

free_port() {
  local p span=$((PORTS_EPHEMERAL_LOW - 15000))
  ((span > 1000)) || span=1000
  for _ in $(seq 1 200); do
    p=$((15000 + RANDOM % span))
    [[ $PORTS_TAKEN == *" $p "* ]] && continue
    port_in_use "$p" && continue
    PORTS_TAKEN+="$p "
    printf -v "$1" '%s' "$p"
    return
  done
  die "no free port found"
}
