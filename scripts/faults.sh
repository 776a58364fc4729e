#!/usr/bin/env bash
# The fault-injection suite: real network, process and etcd faults against ringrpc, with
# rpcx-go beside it as the control. Needs root: it creates a network namespace of its own,
# runs every server, client, etcd and Toxiproxy inside it on loopback, drops packets there
# with nftables, and deletes the namespace at the end (also on failure). Writes
# fault-results/<date>/report.md: one row per scenario (figure for ringrpc, for rpcx-go,
# verdict). Exits non-zero if a scenario FAILs (a crash, a wrong reply, a lost accepted call).
#
#   sudo scripts/faults.sh                      all eleven scenarios (the soak for 60 s)
#   sudo scripts/faults.sh --scenarios 1,6      some of them
#   sudo scripts/faults.sh --long               the soak (11) for 10 minutes
#   sudo scripts/faults.sh --out DIR            write the report elsewhere
#   sudo scripts/faults.sh --release            optimised Rust binaries (default: the dev
#                                               build the tests already made; the figures are
#                                               counts and recovery times, not throughput)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ $(id -u) != 0 ]]; then
  echo "scripts/faults.sh needs root: it creates a network namespace and nftables rules in it." >&2
  echo "Run it as root (e.g. sudo scripts/faults.sh)." >&2
  exit 1
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
gobin=$root/bench-harness/go/bin
toxiproxy_bin=$CARGO_TARGET_DIR/faults-bin/server
source scripts/lib/faults.sh

# An event a driver fires mid-run: `faults.sh event <function> <args>` (inside the namespace).
if [[ ${1:-} == event ]]; then
  shift
  "$@"
  exit
fi

scenarios=1,2,3,4,5,6,7,8,9,10,11
out=
inside=0
profile=dev
while (($#)); do
  case $1 in
    --release) profile=release; shift ;;
    --profile) profile=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --long) export soak_secs=600 soak_warmup_secs=60; shift ;;
    --inside) inside=1; shift ;;
    *) echo "unknown argument $1 (see the header of scripts/faults.sh)" >&2; exit 2 ;;
  esac
done
out=${out:-$root/fault-results/$(date -u +%Y-%m-%d)}
bin=$CARGO_TARGET_DIR/$([[ $profile == dev ]] && echo debug || echo "$profile")

if ((!inside)); then
  # ------------------------------------------------------------ installs and builds
  need=()
  command -v nft >/dev/null 2>&1 || need+=(nftables)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v jq >/dev/null 2>&1 || need+=(jq)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
  if ((${#need[@]})); then
    echo "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  echo "building ($profile) the example server, ringrpc-faults, the Go peers and Toxiproxy"
  cargo build --profile "$profile" --quiet -p ringrpc-engine --example server -p ringrpc-bench --bin ringrpc-faults
  (cd bench-harness/go && go build -o bin/ ./cmd/rpcxserver ./cmd/faultload ./cmd/etcdpeer)
  [[ -x $toxiproxy_bin ]] || GOBIN=$(dirname "$toxiproxy_bin") go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0

  # ------------------------------------------------------------ the namespace
  ns=ringrpc-faults-$$
  ip netns add "$ns"
  trap 'ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns delete "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  mkdir -p "$out"
  ip netns exec "$ns" bash "$0" --inside --profile "$profile" --scenarios "$scenarios" --out "$out"
  exit
fi

# ---------------------------------------------------------------- inside the namespace
work=$(mktemp -d)
trap 'faults_cleanup; rm -rf "$work"' EXIT
nft_setup
toxiproxy_start
export toxi_api work bin
source scripts/lib/faults_scenarios.sh
source scripts/lib/faults_etcd.sh
source scripts/lib/faults_soak.sh

mkdir -p "$out"
: >"$out/rows.md"
started=$SECONDS
for n in ${scenarios//,/ }; do
  if ! declare -F "scenario_$n" >/dev/null; then
    row "$n" "not implemented" "not implemented" "not run"
    continue
  fi
  "scenario_$n"
done

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# Fault-injection suite"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, Rust profile $profile, $(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo
  echo "| scenario | ringrpc | rpcx-go | verdict |"
  echo "|---|---|---|---|"
  cat "$out/rows.md"
  echo
  echo "Raw figures: s<N>-<stack>.json beside this file. Suite time: $((SECONDS - started)) s."
} >"$out/report.md"
rm "$out/rows.md"
cat "$out/report.md"
if ((failures)); then
  echo "$failures scenario(s) FAILED" >&2
  exit 1
fi
