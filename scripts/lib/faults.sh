# The fault suite's means, sourced by scripts/faults.sh inside the network namespace it
# created: starting and stopping servers, waiting for ports, nftables partitions, and
# Toxiproxy driven through its HTTP API. Every wait is bounded; every process started here
# is recorded in $pids and stopped by faults_cleanup. Loopback of the suite's own
# namespace only.

pids=()
nft_table=ringrpc_faults

# A free loopback port (the kernel picks it).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits until 127.0.0.1:$1 accepts connections, at most ~20 s.
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# start_server ringrpc|rpcx-go PORT: starts one server on 127.0.0.1:PORT and waits for it;
# its pid is left in $started_pid.
start_server() {
  local kind=$1 port=$2
  case $kind in
    ringrpc) "$bin/examples/server" --listen "127.0.0.1:$port" --shards 1 --drain-timeout-secs 5 \
      >>"$work/ringrpc-$port.log" 2>&1 & ;;
    rpcx-go) "$gobin/rpcxserver" -addr "127.0.0.1:$port" >>"$work/rpcx-go-$port.log" 2>&1 & ;;
    *) echo "unknown server kind $kind" >&2; return 1 ;;
  esac
  started_pid=$!
  pids+=("$started_pid")
  wait_port "$port" || { tail -5 "$work/$kind-$port.log" >&2; return 1; }
}

# Stops a pid the suite started (SIGTERM, then SIGKILL after ~5 s); never anything else.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# Waits at most ~$2 s (default 10) for pid $1 to exit; prints its exit status, or
# "running" if it did not exit.
exit_status() {
  local pid=$1 tries=$((${2:-10} * 10))
  for _ in $(seq 1 "$tries"); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      echo $?
      return 0
    fi
    sleep 0.1
  done
  echo running
}

# ---------------------------------------------------------------- nftables
nft_setup() {
  nft add table inet "$nft_table"
  nft add chain inet "$nft_table" input '{ type filter hook input priority -10 ; policy accept ; }'
}

# Drops every packet to and from 127.0.0.1:$1 (no RST: the peers see silence).
partition() {
  nft add rule inet "$nft_table" input tcp dport "$1" drop
  nft add rule inet "$nft_table" input tcp sport "$1" drop
}

heal() { nft flush chain inet "$nft_table" input; }

# ---------------------------------------------------------------- Toxiproxy
toxi() { curl -sS --max-time 5 -H 'Content-Type: application/json' "$@"; }

toxiproxy_start() {
  toxi_port=$(free_port)
  "$toxiproxy_bin" -host 127.0.0.1 -port "$toxi_port" >>"$work/toxiproxy.log" 2>&1 &
  pids+=($!)
  wait_port "$toxi_port"
  toxi_api="http://127.0.0.1:$toxi_port"
}

# proxy NAME LISTEN_PORT UPSTREAM_PORT
proxy() {
  toxi -X POST "$toxi_api/proxies" \
    -d "{\"name\":\"$1\",\"listen\":\"127.0.0.1:$2\",\"upstream\":\"127.0.0.1:$3\",\"enabled\":true}" >/dev/null
}

# toxic PROXY NAME TYPE STREAM ATTRIBUTES_JSON
toxic() {
  toxi -X POST "$toxi_api/proxies/$1/toxics" \
    -d "{\"name\":\"$2\",\"type\":\"$3\",\"stream\":\"$4\",\"attributes\":$5}" >/dev/null
}

untoxic() { toxi -X DELETE "$toxi_api/proxies/$1/toxics/$2" >/dev/null; }

unproxy() { toxi -X DELETE "$toxi_api/proxies/$1" >/dev/null; }

# ---------------------------------------------------------------- teardown
faults_cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  wait 2>/dev/null || true
  nft delete table inet "$nft_table" 2>/dev/null || true
}

# An event: starts a server of KIND on PORT again (after a kill) and leaves its pid in
# $work/restarted-PORT.pid for the scenario to stop.
restart_server() {
  start_server "$1" "$2"
  echo "$started_pid" >"$work/restarted-$2.pid"
}

# Drops about $2 % of the packets to 127.0.0.1:$1, at random (nftables numgen).
lossy() { nft add rule inet "$nft_table" input tcp dport "$1" numgen random mod 100 '<' "$2" drop; }

# ---------------------------------------------------------------- etcd
# etcd_start DIR CLIENT_PORT PEER_PORT: starts an etcd of the suite's own (again, on the
# same data, after a kill), its pid in DIR/pid, and waits until it accepts connections.
etcd_start() {
  local dir=$1 cp=$2 pp=$3
  mkdir -p "$dir"
  etcd --name faults --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "faults=http://127.0.0.1:$pp" >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port "$cp"
}

etcd_kill() { kill -9 "$(cat "$1/pid")"; }

# etcd_keys PORT PREFIX: how many keys etcd holds under PREFIX (which ends in `/`), through
# its JSON gateway; 0 when it does not answer within a second.
etcd_keys() {
  local key end
  key=$(printf %s "$2" | base64 -w0)
  end=$(printf %s "${2%/}0" | base64 -w0) # the prefix's range end: `/` + 1 is `0`
  curl -sS --max-time 1 -X POST "http://127.0.0.1:$1/v3/kv/range" \
    -d "{\"key\":\"$key\",\"range_end\":\"$end\",\"count_only\":true}" 2>/dev/null |
    jq -r '.count // "0"' 2>/dev/null || echo 0
}

# heal_then_count_keys PORT PREFIX WANT LIMIT_MS OUT_JSON: heals the partition, then polls
# etcd until PREFIX holds WANT keys again or LIMIT_MS pass; writes how many were there at
# the heal and after how long WANT were back (null: not within the limit).
heal_then_count_keys() {
  local port=$1 prefix=$2 want=$3 limit_ms=$4 json=$5 t0 at_heal n ms
  heal
  t0=$(date +%s%N)
  at_heal=$(etcd_keys "$port" "$prefix")
  while :; do
    n=$(etcd_keys "$port" "$prefix")
    ms=$((($(date +%s%N) - t0) / 1000000))
    if ((n >= want)); then
      echo "{\"present_at_heal\":$at_heal,\"back_ms\":$ms}" >"$json"
      return 0
    fi
    if ((ms > limit_ms)); then
      echo "{\"present_at_heal\":$at_heal,\"back_ms\":null,\"present_at_limit\":$n}" >"$json"
      return 0
    fi
    sleep 0.05
  done
}

# sockets_gone PORT OUT_JSON: after a kill, polls (every 10 ms, at most 10 s) until no
# socket of 127.0.0.1:PORT is left, neither the listener nor a connection, and writes
# after how many ms (null: not within 10 s). A process's sockets close when it dies, unless
# something still holds them (an io_uring instance torn down after its process).
sockets_gone() {
  local port=$1 json=$2 t0 ms left
  t0=$(date +%s%N)
  while :; do
    # Sockets a process holds: listening, established, or closed by the peer only.
    left=$(ss -Htan state listening state established state close-wait "( sport = :$port )" | wc -l)
    ms=$((($(date +%s%N) - t0) / 1000000))
    if ((left == 0)); then
      echo "{\"sockets_gone_ms\":$ms}" >"$json"
      return 0
    fi
    if ((ms > 10000)); then
      echo "{\"sockets_gone_ms\":null,\"sockets_left\":$left}" >"$json"
      return 0
    fi
    sleep 0.01
  done
}
