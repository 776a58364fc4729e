# Sourced by scripts/test.sh: the admin endpoint, the metrics and the tracing plugin
# against real tools, each on loopback with the example server (debug build):
#   - a real Prometheus scrapes /metrics while the Go load generator sends a known rate;
#     Prometheus's HTTP API must report that rate over the measured window, and latency
#     quantiles no worse than the ones the load generator measured;
#   - the status page in headless Chromium, opened on the rpcx port itself
#     (--admin-on-rpcx-port): its numbers change under load; a screenshot is saved under
#     target/test-output/observability/;
#   - a Go rpcx client whose plugin injects the W3C trace context (go.opentelemetry.io/otel)
#     calls the server: each server span names the Go span's trace id and span id.
# Uses step, free_port, wait_port, start_server and pids from test.sh and interop.sh.
# Needs the Debian packages prometheus and chromium (test.sh installs them).

observability_all() {
  local tmp=$1 go_bin=bench-harness/go/bin out=target/test-output/observability
  local server=target/debug/examples/server port admin prom
  mkdir -p "$out"
  cargo build --workspace --all-features --examples

  step "observability: Prometheus scrapes the admin endpoint of a loaded example server"
  port=$(free_port)
  admin=$(free_port)
  prom=$(free_port)
  start_server "$port" "$tmp/obs-server.log" "$server" \
    --listen "127.0.0.1:$port" --shards 2 --admin "127.0.0.1:$admin" --admin-on-rpcx-port
  wait_port "$admin"
  cat >"$tmp/prometheus.yml" <<YAML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: ringrpc
    static_configs: [{ targets: ["127.0.0.1:$admin"] }]
YAML
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
    --web.listen-address="127.0.0.1:$prom" >"$tmp/prometheus.log" 2>&1 &
  pids+=($!)
  wait_port "$prom"
  python3 scripts/lib/observability_check.py scraping "http://127.0.0.1:$prom"
  # Open loop at a fixed rate (2 s warm-up, 8 s measured): what Prometheus must see.
  local t0
  t0=$(date +%s.%N)
  load 500 8s "$port" >"$tmp/load.json"
  python3 scripts/lib/observability_check.py prometheus "$tmp/load.json" "http://127.0.0.1:$prom" "$t0"
  echo "metrics: $(grep -c '^ringrpc_' <(curl -fsS "http://127.0.0.1:$admin/metrics")) sample lines"

  step "observability: the status page, served on the rpcx port, changes under load in headless Chromium"
  load 500 20s "$port" >"$tmp/load-page.json" &
  local loading=$!
  sleep 3
  status_page "http://127.0.0.1:$port/" "$out" "$tmp"
  kill "$loading" 2>/dev/null || true
  wait "$loading" 2>/dev/null || true

  step "observability: a Go client's OpenTelemetry span is the parent of the server's span"
  port=$(free_port)
  RUST_LOG=ringrpc_engine=info start_server "$port" "$tmp/trace-server.log" "$server" \
    --listen "127.0.0.1:$port" --shards 2 --trace
  "$go_bin/otelcall" -addr "127.0.0.1:$port" -calls 3 >"$tmp/otelcall.out"
  sleep 0.5
  python3 scripts/lib/observability_check.py trace "$tmp/otelcall.out" "$tmp/trace-server.log"
}

# The Go load generator: RATE calls/s (open loop) for DURATION after a 2 s warm-up.
load() {
  bench-harness/go/bin/loadgen -client rpcx -addr "127.0.0.1:$3" -workload echo-raw \
    -payload 100 -conns 2 -depth 16 -rate "$1" -warmup 2s -duration "$2" -drain 1s
}

# Saves a screenshot of the page, then opens it twice two seconds apart (each time long
# enough for a few refreshes) and checks that calls/s is above zero and the byte counters
# moved.
status_page() {
  local url=$1 out=$2 tmp=$3
  local chrome=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
    --user-data-dir="$tmp/chromium" --window-size=1280,760 --virtual-time-budget=4000)
  "${chrome[@]}" --screenshot="$out/status-page.png" "$url" 2>"$tmp/chromium.log"
  "${chrome[@]}" --dump-dom "$url" >"$tmp/page1.html" 2>>"$tmp/chromium.log"
  sleep 2
  "${chrome[@]}" --dump-dom "$url" >"$tmp/page2.html" 2>>"$tmp/chromium.log"
  python3 scripts/lib/observability_check.py page "$tmp/page1.html" "$tmp/page2.html"
  test -s "$out/status-page.png"
  echo "screenshot: $out/status-page.png"
}
