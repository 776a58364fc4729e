# Sourced by scripts/test.sh: the real rpcx-go client (bench-harness/go/cmd/interop) against
# the ringrpc example server, and the same checks against rpcx-go itself as a control.
# Uses step, free_port, wait_port and pids from test.sh.

# Starts a server command in the background, waits for its port, records its pid.
start_server() {
  local port=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

interop_all() {
  local tmp=$1 token=interop-token port
  local go_bin=bench-harness/go/bin

  step "interop: rpcx-go client against rpcx-go (control)"
  port=$(free_port)
  GOMAXPROCS=1 start_server "$port" "$tmp/rpcxserver.log" "$go_bin/rpcxserver" -addr "127.0.0.1:$port" -auth "$token"
  "$go_bin/interop" -addr "127.0.0.1:$port" -auth "$token"

  step "interop: rpcx-go client against the ringrpc example server (glommio driver)"
  # Same package selection and features as the test run, so nothing is built twice.
  cargo build --workspace --all-features --examples
  port=$(free_port)
  start_server "$port" "$tmp/ringrpc.log" target/debug/examples/server \
    --driver glommio --listen "127.0.0.1:$port" --shards 2 --auth "$token"
  "$go_bin/interop" -addr "127.0.0.1:$port" -auth "$token"

  step "interop: rpcx-go client against the ringrpc example server (io_uring driver)"
  port=$(free_port)
  start_server "$port" "$tmp/ringrpc-uring.log" target/debug/examples/server \
    --driver uring --listen "127.0.0.1:$port" --shards 2 --auth "$token"
  "$go_bin/interop" -addr "127.0.0.1:$port" -auth "$token"
}
