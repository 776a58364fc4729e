# The fault suite's soak (scenario 11), sourced by scripts/faults.sh after
# faults_scenarios.sh: one server of each kind under half its measured peak for
# $soak_secs (60 s; `--long`: 600 s), with `ringrpc-faults soak` sampling the server's RSS
# and open fds and the calls' p99 every second and fitting a line to the samples after
# the warm-up. Flat means, per minute: RSS grows under 1024 KiB, fds under 0.5, p99 under
# a quarter of its median (and under 1 ms).

soak_secs=${soak_secs:-60}
soak_warmup_secs=${soak_warmup_secs:-10}

# ------------------------------------------------------------ 11: soak
scenario_11() {
  echo "scenario 11: soak, $soak_secs s at 50 % of the measured peak"
  local kind fig=()
  for kind in ringrpc rpcx-go; do
    one_server "$kind"
    "$bin/ringrpc-faults" soak --addr "127.0.0.1:$port" --pid "$spid" --fraction 0.5 \
      --duration-ms $((soak_secs * 1000)) --warmup-ms $((soak_warmup_secs * 1000)) \
      >"$out/s11-$kind.json" 2>>"$work/driver.log" || echo '{}' >"$out/s11-$kind.json"
    stop_pid "$spid"
    fig+=("$(jqr '"peak \(.peak_per_s // 0 | floor)/s, offered \(.rate_per_s // 0 | floor)/s for \((.duration_ms // 0) / 1000) s, answered \(.ok * 1000 / ([.duration_ms, 1] | max) | floor)/s (failed \(.failed), missed at the in-flight cap \(.missed)); slope per minute: RSS \(.slope_per_min.rss_kib | round) KiB (\(.rss_kib_first) -> \(.rss_kib_last) KiB), fds \(.slope_per_min.fds * 100 | round / 100 + 0) (\(.fds_first) -> \(.fds_last)), p99 \(.slope_per_min.p99_ms * 100 | round / 100) ms (median \(.p99_median_ms * 100 | round / 100) ms); \(if .flat.all then "flat" else "NOT flat: " + ([.flat | to_entries[] | select(.key != "all" and (.value | not)) | .key] | join(", ")) end)"' "$out/s11-$kind.json" 2>/dev/null || echo "no figures (see $out/s11-$kind.json)")")
  done
  local j=$out/s11-ringrpc.json
  verdict "$(holds '.wrong_replies == 0 and .ok > 0' "$j" 2>/dev/null || echo 0)" \
    "$(holds '.failed == 0 and .flat.all' "$j" 2>/dev/null || echo 0)" \
    "no failed call; RSS, fds and p99 flat (per minute: RSS < 1024 KiB, fds < 0.5, p99 < max(25 % of its median, 1 ms); slopes over the samples after the first $soak_warmup_secs s)"
  row "11 soak ${soak_secs} s at 50 % of peak" "${fig[0]}" "${fig[1]}" "$verdict"
}
