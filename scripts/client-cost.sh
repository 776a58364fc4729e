#!/usr/bin/env bash
# Measures what each client costs its own process per call at steady, unpipelined rates:
# ringrpc's client on glommio and on tokio, and rpcx-go's Go client, against one ringrpc
# server (io_uring, one shard) pinned to CPU 1, each client pinned to CPU 0 in turn, over
# interleaved rounds. Prints a markdown table (median and min–max of CPU µs per call).
#
#   scripts/client-cost.sh          1k, 10k, 30k calls/s over 1 and 8 connections, 3 rounds
#                                   (about 7 minutes)
#   scripts/client-cost.sh --smoke  one short cell per client; fails if a client got no
#                                   good reply
#   options: --out DIR (default bench-results/<UTC date and time>-client-cost), and any
#            `ringrpc-bench client-cost` option (--rate, --conns, --rounds, --client, ...)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

extra=()
out=""
while (($#)); do
  case "$1" in
    --smoke) extra+=(--rate 1000 --conns 1 --rounds 1 --warmup-s 0.5 --measure-s 1) ;;
    --out) out=$2; shift ;;
    --rate|--conns|--rounds|--client|--warmup-s|--measure-s|--payload-len|--tick-us)
      extra+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "client-cost.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-bench-results/$(date -u +%Y-%m-%d_%H%M%S)-client-cost}

for tool in cargo go taskset; do
  command -v "$tool" >/dev/null || { echo "client-cost.sh: $tool is required" >&2; exit 1; }
done
if ! taskset -c 0,1 true 2>/dev/null; then
  echo "client-cost.sh: needs CPUs 0 and 1 (server on 1, client on 0)" >&2
  exit 1
fi

cargo_profile=${RINGRPC_BENCH_PROFILE:-release}
bin_dir=target/$cargo_profile
echo "==> build ($cargo_profile)"
cargo build --profile "$cargo_profile" --quiet -p ringrpc-bench -p ringrpc-engine --bins --example server
(cd bench-harness/go && go build -o bin/ ./cmd/pacedclient)

echo "==> clients -> $out"
"$bin_dir/ringrpc-bench" client-cost --root "$root" --bin-dir "$bin_dir" \
  --server-cpu 1 --client-cpu 0 --out "$out" "${extra[@]}"
