#!/usr/bin/env bash
# Installs what a fresh machine lacks, starts the services the tests need (etcd, the
# example server, the Go peers: loopback only), runs every test, and stops them again.
#
#   scripts/test.sh            everything CI runs
#   scripts/test.sh --quick    skip the interop and bench-smoke stages (Rust and Go tests only)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

stages=0
step() { stages=$((stages + 1)); printf '\n==> [%ds] %s\n' "$SECONDS" "$*"; }
# Every stage either passed or stopped the script (set -e), so reaching the end means all passed.
finish() {
  du -sh target 2>/dev/null | awk '{ print "disk: target/ holds " $1 }'
  printf '\nstages: %d passed, 0 failed (%ds)\n' "$stages" "$SECONDS"
}

# Disk: a clean run needs about 2 GB under target/ (debug build, one test binary per crate,
# the bench smoke build). Incremental caches would add gigabytes and buy nothing here.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
mkdir -p target
avail_kb=$(df -Pk target | awk 'NR == 2 { print $4 }')
printf 'disk: %d MB free for target/\n' $((avail_kb / 1024))
if ((avail_kb < 4 * 1024 * 1024)); then
  echo "warning: less than 4 GB free; the build may run out of disk (the linker then dies with SIGBUS)" >&2
fi

# ---------------------------------------------------------------- installs
need_pkgs=()
command -v protoc >/dev/null 2>&1 || need_pkgs+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# The engine's HTTP gateway tests call the server with curl.
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
if ((${#need_pkgs[@]})); then
  step "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

step "Go modules and peers (bench-harness/go)"
(cd bench-harness/go && go mod download && go vet ./... && go build -o bin/ ./cmd/...)

# ---------------------------------------------------------------- services
pids=()
tmp=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A free loopback port (the kernel picks it; nothing else binds it before we use it).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits until a TCP port accepts connections, at most ~20 s.
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

step "etcd on 127.0.0.1"
etcd_port=$(free_port)
etcd_peer_port=$(free_port)
etcd --name ringrpc-test --data-dir "$tmp/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "ringrpc-test=http://127.0.0.1:$etcd_peer_port" >"$tmp/etcd.log" 2>&1 &
pids+=($!)
wait_port "$etcd_port"
export RINGRPC_ETCD="http://127.0.0.1:$etcd_port"

# ---------------------------------------------------------------- Rust
step "cargo fmt --check"
cargo fmt --all -- --check
# The volo-grpc peer is outside the workspace (`--all` does not reach it).
cargo fmt --manifest-path bench-harness/volo-peer/Cargo.toml -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc (API docs are part of the product: no broken links, every public item documented)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --all-features --quiet

step "cargo test (unit, integration, benches once, examples built)"
cargo test --workspace --all-features --all-targets

step "cargo test: the engine's behaviour tests again, on the io_uring driver"
# --workspace keeps the feature set of the run above, so the binary is reused, not rebuilt.
RINGRPC_TEST_DRIVER=uring cargo test --workspace --all-features --test engine
cargo test --workspace --all-features --doc

# ---------------------------------------------------------------- Go
step "golden vectors: rpcx-go regenerates them, they must equal the committed ones"
(cd bench-harness/go && go run ./cmd/vectors -check ../../codec/tests/vectors)

if ((quick)); then finish; exit 0; fi

source scripts/lib/interop.sh
interop_all "$tmp"

source scripts/lib/observability.sh
observability_all "$tmp"

step "bench harness smoke run (ringrpc, rpcx-go, grpc-go, tonic and the ceiling, a few seconds each; fails on any cell without good replies)"
RINGRPC_BENCH_PROFILE=ci-bench bash scripts/bench.sh --smoke

step "client-cost smoke run (each client at 1k calls/s for a second; fails on a client without good replies)"
RINGRPC_BENCH_PROFILE=ci-bench bash scripts/client-cost.sh --smoke --out target/client-cost-smoke

step "fault-injection suite, CI subset (scenarios 1 4 6 7 8 10 11; root: its own network namespace)"
# Fails on a crash, a reply delivered to the wrong call or a lost accepted call; a figure
# off its goal is reported in the table, not fatal. About six minutes (the soak is 2 x 60 s).
bash scripts/faults.sh --scenarios 1,4,6,7,8,10,11 --out "$tmp/faults"

step "hostile-peer smoke run (ringrpc and rpcx-go, three CI-sized attacks, about 30 s)"
RINGRPC_BENCH_PROFILE=ci-bench bash scripts/hostile.sh --quick --server ringrpc,rpcx-go \
  --attack gzip-heartbeats,idle,never-reads --out target/hostile-smoke.md
finish
