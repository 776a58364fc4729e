# The fault scenarios of scripts/faults.sh (sourced after scripts/lib/faults.sh). Each
# scenario_N runs the same fault against ringrpc (example server + ringrpc-faults, the
# XClient on tokio) and against rpcx-go (rpcxserver + faultload, rpcx-go's XClient),
# keeps both JSON results in $out, and adds one row to the report: the figure for each and
# a verdict. A verdict is "pass", "goal missed: ..." (a figure off its goal; reported, not
# fatal) or "FAIL: ..." (a crash, a wrong reply, a lost accepted call: the suite fails).

failures=0

# The command an event runs: this suite's own entry point, inside the same namespace.
# Arguments are shell-quoted: the drivers run the line with `sh -c`.
event() { echo "bash $root/scripts/faults.sh event$(printf ' %q' "$@")"; }

# load KIND OUT_JSON ARGS...: runs the driver of KIND with driver-neutral --flags.
load() {
  local kind=$1 json=$2
  shift 2
  if [[ $kind == ringrpc ]]; then
    "$bin/ringrpc-faults" load "$@" >"$json" 2>>"$work/driver.log"
  else
    # Go's flag package takes the same names with one dash.
    "$gobin/faultload" "${@/#--/-}" >"$json" 2>>"$work/driver.log"
  fi
}

# three_servers KIND: starts three servers; their ports in $ports, pids in $spids.
three_servers() {
  ports=() spids=()
  local _
  for _ in 1 2 3; do
    local p
    p=$(free_port)
    start_server "$1" "$p"
    ports+=("$p") spids+=("$started_pid")
  done
  keys="tcp@127.0.0.1:${ports[0]},tcp@127.0.0.1:${ports[1]},tcp@127.0.0.1:${ports[2]}"
}

# one_server KIND: a server on a fresh port; the port in $port, the pid in $spid.
one_server() {
  port=$(free_port)
  start_server "$1" "$port"
  spid=$started_pid
}

# proxied_server KIND NAME: a server behind a Toxiproxy proxy NAME; the proxy's port in
# $listen, the server's pid in $spid.
proxied_server() {
  local up
  up=$(free_port) listen=$(free_port)
  start_server "$1" "$up"
  spid=$started_pid
  proxy "$2" "$listen" "$up"
}

stop_all() { local pid; for pid in "$@"; do stop_pid "$pid"; done; }

row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" >>"$out/rows.md"; echo "  -> $1: ringrpc [$2] rpcx-go [$3] => $4"; }

# verdict SAFETY_OK GOAL_OK WHAT: sets $verdict and counts failures.
verdict() {
  if [[ $1 != 1 ]]; then verdict="FAIL: $3"; failures=$((failures + 1));
  elif [[ $2 != 1 ]]; then verdict="goal missed: $3";
  else verdict=pass; fi
}

jqr() { jq -r "$1" "$2"; }

# holds FILTER FILE: 1 if the jq FILTER is true of FILE, else 0.
holds() { jq -r "if $1 then 1 else 0 end" "$2"; }

# ------------------------------------------------------------ 1: partition one of three
scenario_1() {
  echo "scenario 1: one of three servers partitioned (nftables drop) under Failover + RoundRobin, 250 ms attempt timeout"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    three_servers "$kind"
    # A 250 ms attempt timeout (rpcx-go: its nearest, a 250 ms connection IdleTimeout):
    # a call caught on the silent server moves on within its 1 s deadline.
    load "$kind" "$out/s1-$kind.json" --servers "$keys" --fail failover --select roundrobin \
      --callers 16 --duration-ms 9000 --timeout-ms 1000 --attempt-timeout-ms 250 \
      --event "2000:$(event partition "${ports[2]}")" --event "5000:$(event heal)"
    heal
    stop_all "${spids[@]}"
    fig+=("$(jqr '"failed \(.fatal_errors + .retryable_errors) of \(.calls), wrong \(.wrong_replies); disrupted \(.events[0].disrupted_ms | floor) ms after partition, \(.events[1].disrupted_ms | floor) ms after heal (\(.events[1].failed) failed)"' "$out/s1-$kind.json")")
  done
  local j=$out/s1-ringrpc.json
  verdict "$(holds '.wrong_replies == 0' "$j")" \
    "$(holds '.fatal_errors + .retryable_errors == 0' "$j")" \
    "failed calls must be 0 ($(jqr '.errors | keys | join("; ")' "$j"))"
  row "1 partition 1 of 3" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 4: reset mid-frame
scenario_4() {
  echo "scenario 4: connection cut mid-frame both directions (Toxiproxy limit_data, reset_peer)"
  local kind fig=() alive=()
  for kind in ringrpc rpcx-go; do
    proxied_server "$kind" "s4$kind"
    # Cuts land inside frames: byte counts that are no multiple of a frame's size.
    load "$kind" "$out/s4-$kind.json" --servers "tcp@127.0.0.1:$listen" --fail failover --select roundrobin \
      --callers 8 --duration-ms 8000 --timeout-ms 2000 \
      --event "1000:$(event toxic "s4$kind" down limit_data downstream '{"bytes":1337}')" \
      --event "3000:$(event untoxic "s4$kind" down)" \
      --event "3001:$(event toxic "s4$kind" up limit_data upstream '{"bytes":1001}')" \
      --event "5000:$(event untoxic "s4$kind" up)" \
      --event "5001:$(event toxic "s4$kind" reset reset_peer downstream '{"timeout":300}')" \
      --event "7000:$(event untoxic "s4$kind" reset)"
    kill -0 "$spid" 2>/dev/null && alive+=(1) || alive+=(0)
    unproxy "s4$kind"
    stop_pid "$spid"
    fig+=("$(jqr '"ok \(.ok) of \(.calls), wrong \(.wrong_replies), retryable \(.retryable_errors), other errors \(.fatal_errors)"' "$out/s4-$kind.json"), server $( ((alive[-1])) && echo alive || echo DEAD)")
  done
  local j=$out/s4-ringrpc.json
  verdict "$( ((alive[0])) && holds '.wrong_replies == 0 and .ok > 0' "$j" || echo 0)" \
    "$(holds '.fatal_errors == 0' "$j")" \
    "no crash, no wrong reply, only retryable errors ($(jqr '.errors | keys | join("; ")' "$j"))"
  row "4 reset mid-frame" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 6: kill -9 one of three
scenario_6() {
  echo "scenario 6: kill -9 of one of three servers under Failover + RoundRobin"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    three_servers "$kind"
    # The kill, then how long the killed server's sockets outlive it.
    load "$kind" "$out/s6-$kind.json" --servers "$keys" --fail failover --select roundrobin \
      --callers 16 --duration-ms 6000 --timeout-ms 1000 \
      --event "2000:kill -9 ${spids[1]} && $(event sockets_gone "${ports[1]}" "$out/s6-$kind-sockets.json")"
    stop_all "${spids[@]}"
    fig+=("$(jqr '"lost \(.fatal_errors + .retryable_errors) of \(.calls), wrong \(.wrong_replies); recovered \(.events[0].disrupted_ms | floor) ms after the kill"' "$out/s6-$kind.json"); sockets closed $(jqr '.sockets_gone_ms // "not within 10000"' "$out/s6-$kind-sockets.json") ms after it")
  done
  local j=$out/s6-ringrpc.json
  verdict "$(holds '.wrong_replies == 0' "$j")" \
    "$(holds '.fatal_errors + .retryable_errors == 0' "$j")" \
    "0 lost idempotent calls ($(jqr '.errors | keys | join("; ")' "$j"))"
  row "6 kill -9 1 of 3" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 7: graceful drain
scenario_7() {
  echo "scenario 7: graceful drain (SIGTERM) of the only server under load"
  local kind fig=() codes=()
  for kind in ringrpc rpcx-go; do
    one_server "$kind"
    # Failfast: a call the server accepted must come back answered; the rest must fail
    # retryably (connection refused or closed), never by timeout.
    load "$kind" "$out/s7-$kind.json" --servers "tcp@127.0.0.1:$port" --fail failfast --select roundrobin \
      --callers 16 --duration-ms 4000 --timeout-ms 3000 --event "1500:kill -TERM $spid"
    codes+=("$(exit_status "$spid" 10)")
    stop_pid "$spid"
    fig+=("$(jqr '"answered \(.ok), retryable \(.retryable_errors), lost (timeout/other) \(.fatal_errors), wrong \(.wrong_replies)"' "$out/s7-$kind.json"), exit ${codes[-1]}")
  done
  local j=$out/s7-ringrpc.json
  verdict "$(holds '.wrong_replies == 0 and .fatal_errors == 0 and .ok > 0' "$j")" \
    "$([[ ${codes[0]} == 0 ]] && echo 1 || echo 0)" \
    "every accepted call answered, only retryable errors, clean exit ($(jqr '.errors | keys | join("; ")' "$j"))"
  row "7 graceful drain" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 10: connection churn
scenario_10() {
  echo "scenario 10: 10,000 connections opened and closed at full speed"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    one_server "$kind"
    "$bin/ringrpc-faults" churn --addr "127.0.0.1:$port" --pid "$spid" --count 10000 --parallel 64 \
      >"$out/s10-$kind.json" 2>>"$work/driver.log"
    stop_pid "$spid"
    fig+=("$(jqr '"\(.connections) conns in \(.churn_ms | floor) ms (\(.failed) failed); fds \(.fds_base) -> \(.fds_after_churn) -> \(.fds_settled); RSS \(.rss_base_kib) -> \(.rss_after_churn_kib) -> \(.rss_settled_kib) KiB"' "$out/s10-$kind.json")")
  done
  local j=$out/s10-ringrpc.json
  verdict "$(holds '.failed == 0 and .fds_settled <= .fds_base' "$j")" \
    "$(holds '.back_to_baseline' "$j")" \
    "fds and RSS back to baseline"
  row "10 10k connections" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 2: blackhole with deadlines
scenario_2() {
  echo "scenario 2: blackhole (Toxiproxy timeout toxic) with 500 ms deadlines and a breaker"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    proxied_server "$kind" "s2$kind"
    load "$kind" "$out/s2-$kind.json" --servers "tcp@127.0.0.1:$listen" --fail failfast --select roundrobin \
      --callers 8 --duration-ms 8000 --timeout-ms 500 --breaker-failures 5 --breaker-open-ms 1000 \
      --event "2000:$(event toxic "s2$kind" hole timeout downstream '{"timeout":0}')" \
      --event "5000:$(event untoxic "s2$kind" hole)"
    unproxy "s2$kind"
    stop_pid "$spid"
    fig+=("$(jqr '"longest call \(.max_call_ms | floor) ms (deadline 500), breaker-open errors \([.errors | to_entries[] | select(.key | test("breaker")) | .value] | add // 0), wrong \(.wrong_replies); first success \(.events[1].first_ok_ms // "none" | if type == "number" then floor else . end) ms after heal"' "$out/s2-$kind.json")")
  done
  local j=$out/s2-ringrpc.json
  verdict "$(holds '.wrong_replies == 0' "$j")" \
    "$(holds '.max_call_ms <= 550 and ([.errors | to_entries[] | select(.key | test("breaker")) | .value] | add // 0) > 0 and .events[1].first_ok_ms != null' "$j")" \
    "calls end within deadline + 10 %, breaker opens, closes after heal"
  row "2 blackhole + deadlines" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 5: slicer both directions
scenario_5() {
  echo "scenario 5: Toxiproxy slicer (1-3 byte segments, 20 us apart) in both directions"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    proxied_server "$kind" "s5$kind"
    toxic "s5$kind" down slicer downstream '{"average_size":2,"size_variation":1,"delay":20}'
    toxic "s5$kind" up slicer upstream '{"average_size":2,"size_variation":1,"delay":20}'
    load "$kind" "$out/s5-$kind.json" --servers "tcp@127.0.0.1:$listen" --fail failfast --select roundrobin \
      --callers 8 --duration-ms 5000 --timeout-ms 3000
    unproxy "s5$kind"
    stop_pid "$spid"
    fig+=("$(jqr '"ok \(.ok) of \(.calls), wrong \(.wrong_replies), errors \(.fatal_errors + .retryable_errors), p99 \(.p99_ms | floor) ms"' "$out/s5-$kind.json")")
  done
  local j=$out/s5-ringrpc.json
  verdict "$(holds '.wrong_replies == 0 and .ok > 0' "$j")" \
    "$(holds '.fatal_errors + .retryable_errors == 0' "$j")" \
    "every reply exact, no errors"
  row "5 slicer" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 9: restart on the same port
scenario_9() {
  echo "scenario 9: server killed and restarted on the same port"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    one_server "$kind"
    load "$kind" "$out/s9-$kind.json" --servers "tcp@127.0.0.1:$port" --fail failover --select roundrobin \
      --callers 8 --duration-ms 6000 --timeout-ms 1000 \
      --event "2000:kill -9 $spid" --event "2500:$(event restart_server "$kind" "$port")"
    stop_pid "$spid"
    [[ -f $work/restarted-$port.pid ]] && stop_pid "$(cat "$work/restarted-$port.pid")"
    fig+=("$(jqr '"first success \(.events[1].first_ok_ms // "none" | if type == "number" then floor else . end) ms after the restart began, failed \(.fatal_errors + .retryable_errors) of \(.calls), wrong \(.wrong_replies)"' "$out/s9-$kind.json")")
  done
  local j=$out/s9-ringrpc.json
  verdict "$(holds '.wrong_replies == 0 and .events[1].first_ok_ms != null' "$j")" 1 \
    "clients reconnect and calls resume"
  row "9 restart same port" "${fig[0]}" "${fig[1]}" "$verdict"
}

# ------------------------------------------------------------ 3: latency, jitter and loss
scenario_3() {
  echo "scenario 3: 50 ms +- 10 ms latency (Toxiproxy) and 2 % loss (nftables), 1 caller vs 32 pipelined"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    local callers part=()
    proxied_server "$kind" "s3$kind"
    toxic "s3$kind" lat latency downstream '{"latency":50,"jitter":10}'
    lossy "$listen" 2
    for callers in 1 32; do
      load "$kind" "$out/s3-$kind-c$callers.json" --servers "tcp@127.0.0.1:$listen" --fail failover \
        --select roundrobin --callers "$callers" --duration-ms 6000 --timeout-ms 3000
      part+=("$(jqr "\"$callers caller(s): ok \(.ok * 1000 / ([.calls, 1] | max) | floor / 10) %, p99 \(.p99_ms | floor) ms\"" "$out/s3-$kind-c$callers.json")")
    done
    heal
    unproxy "s3$kind"
    stop_pid "$spid"
    fig+=("${part[0]}; ${part[1]}")
  done
  local j=$out/s3-ringrpc-c32.json
  verdict "$(holds '.wrong_replies == 0 and .ok > 0' "$j")" \
    "$(jq -s '(map(.ok == .calls) | all) | if . then 1 else 0 end' "$out/s3-ringrpc-c1.json" "$j")" \
    "every call succeeds despite loss"
  row "3 latency + 2 % loss" "${fig[0]}" "${fig[1]}" "$verdict"
}
