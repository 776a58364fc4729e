# Sourced by scripts/test.sh: the real rpcx-go client (bench-harness/go/cmd/interop) against
# the ringrpc example server (TCP, a Unix socket, IPv6 loopback), the same checks against
# rpcx-go itself as a control, and the HTTP side of the port compared request by request
# with rpcx-go's (bench-harness/go/cmd/httpdiff: the gateway, JSON-RPC 2.0, CORS, through raw
# connections and Go's net/http client). Uses step, free_port, wait_port and pids from test.sh.

# Starts a server command in the background, waits for its port, records its pid.
start_server() {
  local port=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

# Starts the ringrpc example server with the given arguments, waits for its ready line.
start_ringrpc() {
  local log=$1
  shift
  target/debug/examples/server "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q 'ringrpc listening on' "$log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the example server did not start ($*):" >&2
  cat "$log" >&2
  return 1
}

interop_all() {
  local tmp=$1 token=interop-token go_port glommio_port uring_port port
  local go_bin=bench-harness/go/bin

  step "interop: rpcx-go client against rpcx-go (control)"
  go_port=$(free_port)
  GOMAXPROCS=1 start_server "$go_port" "$tmp/rpcxserver.log" "$go_bin/rpcxserver" -addr "127.0.0.1:$go_port" -auth "$token"
  "$go_bin/interop" -addr "127.0.0.1:$go_port" -auth "$token"

  step "interop: rpcx-go client against the ringrpc example server (glommio driver)"
  # Same package selection and features as the test run, so nothing is built twice.
  cargo build --workspace --all-features --examples
  glommio_port=$(free_port)
  start_ringrpc "$tmp/ringrpc.log" --driver glommio --listen "127.0.0.1:$glommio_port" --shards 2 --auth "$token"
  "$go_bin/interop" -addr "127.0.0.1:$glommio_port" -auth "$token"

  step "interop: rpcx-go client against the ringrpc example server (io_uring driver)"
  uring_port=$(free_port)
  start_ringrpc "$tmp/ringrpc-uring.log" --driver uring --listen "127.0.0.1:$uring_port" --shards 2 --auth "$token"
  "$go_bin/interop" -addr "127.0.0.1:$uring_port" -auth "$token"

  step "interop: rpcx-go client against the ringrpc example server on a Unix socket (both drivers)"
  start_ringrpc "$tmp/ringrpc-unix-uring.log" --driver uring --listen "unix@$tmp/ringrpc-uring.sock" --shards 2 --auth "$token"
  "$go_bin/interop" -addr "unix@$tmp/ringrpc-uring.sock" -auth "$token"
  start_ringrpc "$tmp/ringrpc-unix-glommio.log" --driver glommio --listen "unix@$tmp/ringrpc-glommio.sock" --shards 2 --auth "$token"
  "$go_bin/interop" -addr "unix@$tmp/ringrpc-glommio.sock" -auth "$token"

  step "interop: rpcx-go client against the ringrpc example server on IPv6 loopback (both drivers)"
  for driver in glommio uring; do
    port=$(free_port)
    start_ringrpc "$tmp/ringrpc-ipv6-$driver.log" --driver "$driver" --listen "tcp@[::1]:$port" --shards 2 --auth "$token"
    "$go_bin/interop" -addr "tcp@[::1]:$port" -auth "$token"
  done

  step "HTTP gateway and JSON-RPC: the same requests to rpcx-go and ringrpc (both drivers)"
  "$go_bin/httpdiff" -rpcx "127.0.0.1:$go_port" -other "127.0.0.1:$glommio_port" -auth "$token"
  "$go_bin/httpdiff" -rpcx "127.0.0.1:$go_port" -other "127.0.0.1:$uring_port" -auth "$token"

  step "HTTP CORS: the same requests to rpcx-go and ringrpc, both allowing all origins"
  local go_cors ringrpc_cors
  go_cors=$(free_port)
  GOMAXPROCS=1 start_server "$go_cors" "$tmp/rpcxserver-cors.log" "$go_bin/rpcxserver" -addr "127.0.0.1:$go_cors" -auth "$token" -cors
  ringrpc_cors=$(free_port)
  start_ringrpc "$tmp/ringrpc-cors.log" --listen "127.0.0.1:$ringrpc_cors" --shards 1 --auth "$token" --cors-allow-all
  "$go_bin/httpdiff" -set cors -rpcx "127.0.0.1:$go_cors" -other "127.0.0.1:$ringrpc_cors" -auth "$token"
}
