"""Checks for scripts/lib/observability.sh (one subcommand per check); exits non-zero
with a message saying what differed.

  prometheus LOAD_JSON PROM_URL T0
                                  Prometheus's rate and quantiles vs the load generator's
                                  (T0: when it started; 2 s warm-up, then the measured window)
  scraping PROM_URL                wait until Prometheus has scraped the target once
  page PAGE1 PAGE2                two dumps of the status page: numbers moved under load
  trace OTELCALL_OUT SERVER_LOG   every Go span is the parent of a server span
"""

import json
import re
import sys
import time
import urllib.parse
import urllib.request

# The server's histogram bounds in seconds (plugin::metrics::LATENCY_BUCKETS_S).
BOUNDS = [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
          100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0]


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def query(prom, expr, at):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": at})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    result = body["data"]["result"]
    if not result:
        fail(f"Prometheus has no value for {expr}")
    return float(result[0]["value"][1])


def scraping(prom):
    """Waits (at most 30 s) until Prometheus has scraped the target: its first scrape comes
    seconds after its port opens, and a rate needs samples from the whole window."""
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": 'up{job="ringrpc"}'})
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                result = json.load(response)["data"]["result"]
            if result and result[0]["value"][1] == "1":
                return
        except OSError:
            pass
        time.sleep(0.1)
    fail("Prometheus did not scrape the admin endpoint within 30 s")


def bound_above(seconds):
    """The histogram bound at or above `seconds` (what the server can resolve)."""
    return next((b for b in BOUNDS if seconds <= b), BOUNDS[-1])


def prometheus(load_json, prom, t0):
    load = json.load(open(load_json))
    if load["bad"] or load["errors"]:
        fail(f"the load generator saw errors: {load}")
    sent_rate = load["throughput_rps"]
    # The measured window is [t0 + 2 s, t0 + 2 s + window_s]: take the 6 s before its last
    # half second, once Prometheus (scraping every second) has scraped past its end.
    at = float(t0) + 2 + load["window_s"] - 0.5
    time.sleep(max(0.0, at + 2.5 - time.time()))
    rate = query(prom, 'sum(rate(ringrpc_requests_total{service="Echo",status="ok"}[6s]))', at)
    quantiles = {}
    for q in (0.5, 0.99):
        quantiles[q] = query(
            prom,
            f"histogram_quantile({q}, sum by (le) "
            f'(rate(ringrpc_request_duration_seconds_bucket{{service="Echo"}}[6s])))',
            at,
        )
    client = {0.5: load["latency_us"]["p50"] / 1e6, 0.99: load["latency_us"]["p99"] / 1e6}
    print(f"load generator: {sent_rate:.0f} calls/s, p50 {client[0.5] * 1e6:.0f} µs, "
          f"p99 {client[0.99] * 1e6:.0f} µs")
    print(f"Prometheus:     {rate:.0f} calls/s, p50 {quantiles[0.5] * 1e6:.0f} µs, "
          f"p99 {quantiles[0.99] * 1e6:.0f} µs")
    if abs(rate - sent_rate) > 0.1 * sent_rate:
        fail(f"Prometheus's rate {rate:.0f}/s is not within 10% of the {sent_rate:.0f}/s sent")
    for q in (0.5, 0.99):
        # The server's latency is part of the client's: never above it, to the histogram's
        # resolution (Prometheus interpolates inside a bucket).
        if not 0 < quantiles[q] <= bound_above(client[q]):
            fail(f"p{q * 100:g}: the server's {quantiles[q]:.6f} s is not in "
                 f"(0, {bound_above(client[q]):.6f}], the bucket of the client's {client[q]:.6f} s")


def numbers(page):
    html = open(page).read()
    rate = re.search(r'id="rate">([0-9]+)<', html)
    cells = re.findall(r"<td>([0-9.]+ [KMG]?i?B) / ([0-9.]+ [KMG]?i?B)</td>", html)
    if not rate or not cells:
        fail(f"{page}: no calls/s or byte counters on the page")
    return int(rate.group(1)), cells


def page(first, second):
    rate1, bytes1 = numbers(first)
    rate2, bytes2 = numbers(second)
    print(f"page: calls/s {rate1} then {rate2}; bytes in/out {bytes1} then {bytes2}")
    if rate2 <= 0:
        fail("the page shows no calls/s under load")
    if bytes1 == bytes2:
        fail("the page's byte counters did not change under load")


def trace(otelcall_out, server_log):
    calls = re.findall(r"trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})", open(otelcall_out).read())
    if not calls:
        fail("otelcall printed no calls")
    log = open(server_log).read()
    for trace_id, span_id in calls:
        line = re.search(rf"trace_id={trace_id}\b.*parent_span_id={span_id}\b", log)
        if not line:
            fail(f"no server span with trace_id={trace_id} parent_span_id={span_id}")
    print(f"trace: {len(calls)} server spans carry their Go parent's trace id and span id")


if __name__ == "__main__":
    {"prometheus": prometheus, "scraping": scraping, "page": page, "trace": trace}[sys.argv[1]](*sys.argv[2:])
