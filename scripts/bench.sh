#!/usr/bin/env bash
# Benchmarks ringrpc against rpcx-go, grpc-go, tonic, volo-grpc and a framing ceiling on this machine, side by
# side, and writes a report (the method: fresh server per cell, server on CPU 1 and load
# generator on CPU 0, servers interleaved over rounds, host stalls detected and re-run).
#
#   scripts/bench.sh            quick profile (about 12 minutes): key cells, short windows
#   scripts/bench.sh --full     the method's windows over the cited cells (about 70 minutes): citable numbers
#   scripts/bench.sh --complete every shape of the method's matrix (about 3 hours 20 minutes)
#   scripts/bench.sh --smoke    a few seconds; fails if any cell got zero good replies
#   options: --out DIR (default bench-results/<UTC date and time>-<profile>), --scenario FILE
#
# Builds what it needs (cargo build --release, go build), then runs
# `ringrpc-bench run` and prints the summary table; the report is <out>/report.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

profile=quick
out=""
scenario=""
while (($#)); do
  case "$1" in
    --quick) profile=quick ;;
    --full) profile=full ;;
    --complete) profile=complete ;;
    --smoke) profile=smoke ;;
    --out) out=$2; shift ;;
    --scenario) scenario=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
scenario=${scenario:-bench-harness/scenarios/$profile.toml}
if [[ -z "$out" ]]; then
  if [[ $profile == smoke ]]; then
    out=target/bench-smoke
    rm -rf "$out"
  else
    out=bench-results/$(date -u +%Y-%m-%d_%H%M%S)-$profile
  fi
fi

for tool in cargo go taskset; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool is required" >&2; exit 1; }
done
if ! taskset -c 0,1 true 2>/dev/null; then
  echo "bench.sh: needs CPUs 0 and 1 (server on 1, load generator on 0)" >&2
  exit 1
fi

# CI's smoke run may pick a faster-to-build profile (RINGRPC_BENCH_PROFILE=ci-bench); real
# measurements always use the release profile (fat LTO, one codegen unit).
cargo_profile=${RINGRPC_BENCH_PROFILE:-release}
bin_dir=target/$cargo_profile
echo "==> build ($cargo_profile)"
# One invocation, so both packages share one build of every dependency.
cargo build --profile "$cargo_profile" --quiet -p ringrpc-bench -p ringrpc-engine --bins --example server
# The volo-grpc peer is its own crate, outside the workspace (its ~160 crates are built for
# it alone), built into target/ so that it lands in $bin_dir beside the others; only for a
# scenario that runs it (smoke does not).
if grep -q '"volo-grpc"' "$scenario"; then
  cargo build --profile "$cargo_profile" --quiet --manifest-path bench-harness/volo-peer/Cargo.toml \
    --target-dir target
fi
(cd bench-harness/go && go build -o bin/ ./cmd/rpcxserver ./cmd/grpcserver ./cmd/loadgen)

quiet_budget=120
[[ $profile == smoke ]] && quiet_budget=5
[[ $profile == full || $profile == complete ]] && quiet_budget=900

echo "==> run $scenario -> $out"
# The runner itself sleeps almost all the time; it stays off the server's CPU.
taskset -c 0 "$bin_dir/ringrpc-bench" run --scenario "$scenario" --out "$out" \
  --root "$root" --bin-dir "$bin_dir" --server-cpu 1 --loadgen-cpu 0 --quiet-budget-s "$quiet_budget"
