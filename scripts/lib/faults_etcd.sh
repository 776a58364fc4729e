# The fault suite's registry scenario (8), sourced by scripts/faults.sh after
# faults_scenarios.sh. An etcd of the suite's own, in its namespace, is killed and started
# again on the same data, then partitioned (nftables drop on its client port: servers and
# clients alike lose it, with no RST) for longer than the servers' lease TTL, so etcd
# expires their keys; meanwhile XClients that discover the servers through that etcd keep
# calling them.

# ringrpc's lease TTL (the example server's --lease-ttl-secs).
s8_ttl_secs=6
# rpcx-go: rpcx-etcd's UpdateInterval. Its store grants the first lease with a fixed 30 s
# TTL and later ones with twice this; the partition must outlast the first.
s8_update_secs=3
s8_rpcx_first_ttl_secs=30

# registered_servers KIND ETCD_PORT BASE: three servers that register in that etcd under
# BASE; their ports in $ports, pids in $spids.
registered_servers() {
  local kind=$1 cp=$2 base=$3 p _
  ports=() spids=()
  for _ in 1 2 3; do
    p=$(free_port)
    case $kind in
      ringrpc) "$bin/examples/server" --listen "127.0.0.1:$p" --shards 1 --drain-timeout-secs 5 \
        --registry "etcd://127.0.0.1:$cp$base" --lease-ttl-secs "$s8_ttl_secs" --deregister-wait-ms 0 \
        >>"$work/ringrpc-$p.log" 2>&1 & ;;
      rpcx-go) "$gobin/etcdpeer" serve -etcd "127.0.0.1:$cp" -base "$base" -addr "127.0.0.1:$p" \
        -update "${s8_update_secs}s" >>"$work/rpcx-go-$p.log" 2>&1 & ;;
    esac
    pids+=($!)
    ports+=("$p") spids+=($!)
    wait_port "$p"
  done
}

# ------------------------------------------------------------ 8: etcd killed, partitioned
scenario_8() {
  echo "scenario 8: etcd killed and restarted, then partitioned beyond the lease TTL, under load through etcd discovery"
  local kind fig=() ttl part wait_keys=$((2 * s8_ttl_secs))
  for kind in ringrpc rpcx-go; do
    local dir=$work/etcd-s8-$kind base=/s8-$kind cp pp heal_at
    cp=$(free_port) pp=$(free_port)
    etcd_start "$dir" "$cp" "$pp"
    registered_servers "$kind" "$cp" "$base"
    [[ $kind == ringrpc ]] && ttl=$s8_ttl_secs || ttl=$s8_rpcx_first_ttl_secs
    part=$((ttl + 3))
    heal_at=$((7000 + part * 1000))
    load "$kind" "$out/s8-$kind.json" --etcd "http://127.0.0.1:$cp" --base "$base" --min-servers 3 \
      --fail failover --select roundrobin --callers 16 --timeout-ms 1000 \
      --duration-ms $((heal_at + wait_keys * 1000 + 2000)) \
      --event "1000:$(event etcd_kill "$dir")" \
      --event "4000:$(event etcd_start "$dir" "$cp" "$pp")" \
      --event "7000:$(event partition "$cp")" \
      --event "$heal_at:$(event heal_then_count_keys "$cp" "$base/Arith/" 3 $((wait_keys * 1000)) "$out/s8-$kind-keys.json")"
    heal
    stop_all "${spids[@]}"
    stop_pid "$(cat "$dir/pid")"
    [[ -s $out/s8-$kind-keys.json ]] || echo '{"present_at_heal":null,"back_ms":null}' >"$out/s8-$kind-keys.json"
    fig+=("$(jqr '"failed \(.fatal_errors + .retryable_errors) of \(.calls), wrong \(.wrong_replies); servers listed: at least \(.servers_listed_min), at the end \(.servers_listed_last)"' "$out/s8-$kind.json"); partitioned ${part} s (lease TTL ${ttl} s): $(jqr '"keys present at heal \(.present_at_heal), all back \(.back_ms // "not") ms after heal"' "$out/s8-$kind-keys.json")")
  done
  local j=$out/s8-ringrpc.json k=$out/s8-ringrpc-keys.json
  verdict "$(holds '.wrong_replies == 0 and .ok > 0' "$j")" \
    "$( (($(holds '.fatal_errors + .retryable_errors == 0' "$j") && $(holds "(.back_ms // 1e9) <= $((s8_ttl_secs * 1000))" "$k"))) && echo 1 || echo 0)" \
    "0 failed calls, keys back within one TTL of the heal ($(jqr '.errors | keys | join("; ")' "$j"))"
  row "8 etcd killed, partitioned > TTL" "${fig[0]}" "${fig[1]}" "$verdict"
}
