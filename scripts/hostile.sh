#!/usr/bin/env bash
# Attacks ringrpc (io_uring and glommio drivers) and rpcx-go as a hostile peer would, one
# fresh server per attack, server pinned to CPU 1 and the attacker to CPU 0 (as bench.sh),
# and prints a markdown table of what each attack cost each server, measured from outside
# (VmRSS, CPU time, a well-behaved probe's reply time).
#
#   scripts/hostile.sh            the full attacks (about 5 minutes)
#   scripts/hostile.sh --quick    CI-sized attacks (under a minute)
#   options: --out FILE (default bench-results/<UTC date and time>-hostile.md),
#            --server LIST, --attack LIST (see `ringrpc-bench hostile --help`)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

extra=()
out=""
while (($#)); do
  case "$1" in
    --quick) extra+=(--quick) ;;
    --out) out=$2; shift ;;
    --server|--attack) extra+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "hostile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-bench-results/$(date -u +%Y-%m-%d_%H%M%S)-hostile.md}
mkdir -p "$(dirname "$out")"

for tool in cargo go taskset; do
  command -v "$tool" >/dev/null || { echo "hostile.sh: $tool is required" >&2; exit 1; }
done
if ! taskset -c 0,1 true 2>/dev/null; then
  echo "hostile.sh: needs CPUs 0 and 1 (server on 1, attacker on 0)" >&2
  exit 1
fi
# 10,000 idle connections: the attacker and the server each need that many descriptors.
ulimit -n 32768 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo_profile=${RINGRPC_BENCH_PROFILE:-release}
bin_dir=target/$cargo_profile
echo "==> build ($cargo_profile)"
cargo build --profile "$cargo_profile" --quiet -p ringrpc-bench -p ringrpc-engine --bins --example server
(cd bench-harness/go && go build -o bin/ ./cmd/rpcxserver)

echo "==> attacks -> $out"
taskset -c 0 "$bin_dir/ringrpc-bench" hostile --root "$root" --bin-dir "$bin_dir" \
  --server-cpu 1 --out "$out" "${extra[@]}"
