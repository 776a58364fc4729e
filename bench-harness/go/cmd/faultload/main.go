// Command faultload is the rpcx-go control of the fault-injection suite (scripts/faults.sh):
// steady rpcx-go XClient calls (Arith.Mul, each with its own argument so a reply delivered
// to the wrong call shows) from -callers goroutines for -duration-ms, with the suite's fault
// commands run at their offsets, then one JSON line of figures in the same shape as
// `ringrpc-faults load`. The servers come from -servers (a static list) or from etcd
// (-etcd, -base: rpcx-etcd's discovery, whose list the run samples). rpcx-go has no
// per-attempt timeout: -attempt-timeout-ms sets the nearest it has, Option.IdleTimeout (a
// read/write deadline on each connection, renewed by every read), which breaks a silent
// connection so Failover retries its calls. It never injects a fault itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	etcdclient "github.com/rpcxio/rpcx-etcd/client"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
)

// maxRecords bounds the kept call records (about 40 MB); later calls are only counted.
const maxRecords = 2_000_000

type outcome int

const (
	ok outcome = iota
	wrongReply
	retryable
	fatal
)

type record struct {
	startMs, endMs float64
	outcome        outcome
}

type events []string

func (e *events) String() string     { return strings.Join(*e, ";") }
func (e *events) Set(v string) error { *e = append(*e, v); return nil }

type event struct {
	atMs int64
	cmd  string
}

func parseEvents(raw events) ([]event, error) {
	var out []event
	for _, e := range raw {
		at, cmd, found := strings.Cut(e, ":")
		if !found {
			return nil, fmt.Errorf("-event wants <ms>:<command>, got %q", e)
		}
		ms, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-event offset: %w", err)
		}
		out = append(out, event{ms, cmd})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].atMs < out[j].atMs })
	return out, nil
}

// schedule runs each command at its offset; the returned channel yields the fire times.
func schedule(evs []event, started time.Time) <-chan []float64 {
	done := make(chan []float64, 1)
	go func() {
		var fired []float64
		for _, e := range evs {
			time.Sleep(time.Until(started.Add(time.Duration(e.atMs) * time.Millisecond)))
			fired = append(fired, msSince(started))
			if err := exec.Command("sh", "-c", e.cmd).Run(); err != nil {
				fmt.Fprintf(os.Stderr, "event %q: %v\n", e.cmd, err)
			}
		}
		done <- fired
	}()
	return done
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// classify mirrors the Rust driver: a deadline or a service error is final, anything
// else (connection lost, no server, shut down) is retryable.
func classify(err error) outcome {
	var se client.ServiceError
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &se) && se.IsServiceError()) {
		return fatal
	}
	return retryable
}

func errorKind(text string) string {
	kind := []rune(strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return '#'
		}
		return r
	}, text))
	if len(kind) > 80 {
		kind = kind[:80]
	}
	return string(kind)
}

type tally struct {
	mu      sync.Mutex
	records []record
	dropped int
	errors  map[string]int
}

func main() {
	servers := flag.String("servers", "", "server keys, comma separated (tcp@127.0.0.1:8972,...)")
	etcd := flag.String("etcd", "", "discover the servers in etcd instead (host:port or http://host:port, comma separated)")
	base := flag.String("base", "", "the registry's base path (with -etcd)")
	minServers := flag.Int("min-servers", 1, "with -etcd, wait (at most 10 s) until this many servers are listed")
	attemptTimeoutMs := flag.Int64("attempt-timeout-ms", 0, "rpcx-go's Option.IdleTimeout (0: none); see the package doc")
	failMode := flag.String("fail", "failover", "failover, failtry or failfast")
	selectMode := flag.String("select", "roundrobin", "roundrobin or random")
	retries := flag.Int("retries", 3, "retries of failover and failtry")
	callers := flag.Int("callers", 16, "concurrent callers")
	durationMs := flag.Int64("duration-ms", 8000, "run time")
	timeoutMs := flag.Int64("timeout-ms", 1000, "deadline of one call, retries included")
	slowMs := flag.Float64("slow-ms", 100, "a call slower than this counts as disrupted")
	breakerFailures := flag.Uint64("breaker-failures", 0, "open a server's breaker after this many consecutive failures (0: none)")
	breakerOpenMs := flag.Int64("breaker-open-ms", 1000, "how long an open breaker refuses calls")
	var rawEvents events
	flag.Var(&rawEvents, "event", "`<ms>:<command>` run at that offset (repeatable)")
	flag.Parse()
	log.SetDummyLogger() // rpcx logs every lost connection to stdout, where the figures go

	evs, err := parseEvents(rawEvents)
	if err != nil {
		fail(err)
	}
	d, err := discovery(*servers, *etcd, *base, *minServers)
	if err != nil {
		fail(err)
	}
	modes := map[string]client.FailMode{"failover": client.Failover, "failtry": client.Failtry, "failfast": client.Failfast}
	selects := map[string]client.SelectMode{"roundrobin": client.RoundRobin, "random": client.RandomSelect}
	fm, okF := modes[*failMode]
	sm, okS := selects[*selectMode]
	if !okF || !okS {
		fail(fmt.Errorf("unknown -fail %q or -select %q", *failMode, *selectMode))
	}
	opt := client.DefaultOption
	opt.Retries = *retries
	opt.IdleTimeout = time.Duration(*attemptTimeoutMs) * time.Millisecond
	if *breakerFailures > 0 {
		n, window := *breakerFailures, time.Duration(*breakerOpenMs)*time.Millisecond
		opt.GenBreaker = func() client.Breaker { return client.NewConsecCircuitBreaker(n, window) }
	}
	xc := client.NewXClient(api.ArithService, fm, sm, d, opt)
	defer xc.Close()

	started := time.Now()
	until := started.Add(time.Duration(*durationMs) * time.Millisecond)
	fired := schedule(evs, started)
	t := &tally{errors: map[string]int{}}
	listed := len(d.GetServices())
	fewest, last := listed, listed
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for time.Now().Before(until) {
			n := len(d.GetServices())
			fewest, last = min(fewest, n), n
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for id := 0; id < *callers; id++ {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			for n := int64(1); time.Now().Before(until); n++ {
				a := id*1_000_000_000 + n
				start := msSince(started)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeoutMs)*time.Millisecond)
				reply := &api.Reply{}
				err := xc.Call(ctx, "Mul", &api.Args{A: int(a), B: 7}, reply)
				cancel()
				o := ok
				switch {
				case err != nil:
					o = classify(err)
				case int64(reply.C) != a*7:
					o = wrongReply
				}
				t.mu.Lock()
				if err != nil {
					t.errors[errorKind(err.Error())]++
				}
				if len(t.records) < maxRecords {
					t.records = append(t.records, record{start, msSince(started), o})
				} else {
					t.dropped++
				}
				t.mu.Unlock()
				if o != ok {
					time.Sleep(5 * time.Millisecond) // a failing call returns at once: no spinning
				}
			}
		}(int64(id))
	}
	wg.Wait()
	<-sampled
	out := figures(t, evs, <-fired, *slowMs)
	out["servers_listed_min"], out["servers_listed_last"] = fewest, last
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

// discovery is the static list, or rpcx-etcd's discovery once it lists minServers.
func discovery(servers, etcd, base string, minServers int) (client.ServiceDiscovery, error) {
	if etcd == "" {
		var pairs []*client.KVPair
		for _, s := range strings.Split(servers, ",") {
			pairs = append(pairs, &client.KVPair{Key: s})
		}
		return client.NewMultipleServersDiscovery(pairs)
	}
	var endpoints []string
	for _, e := range strings.Split(etcd, ",") {
		endpoints = append(endpoints, strings.TrimPrefix(e, "http://"))
	}
	d, err := etcdclient.NewEtcdV3Discovery(base, api.ArithService, endpoints, true, nil)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(d.GetServices()) < minServers {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("etcd listed %d servers under %s/%s in 10s; want %d",
				len(d.GetServices()), base, api.ArithService, minServers)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d, nil
}

func figures(t *tally, evs []event, fired []float64, slowMs float64) map[string]any {
	counts := map[outcome]int{}
	var lat []float64
	for _, r := range t.records {
		counts[r.outcome]++
		if r.outcome == ok {
			lat = append(lat, r.endMs-r.startMs)
		}
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(int(float64(len(lat))*p), len(lat)-1)]
	}
	maxCall := 0.0
	for _, r := range t.records {
		maxCall = math.Max(maxCall, r.endMs-r.startMs)
	}
	var perEvent []map[string]any
	for i, at := range fired {
		next := math.Inf(1)
		if i+1 < len(fired) {
			next = fired[i+1]
		}
		calls, failed, lastBad := 0, 0, 0.0
		var firstOk any
		for _, r := range t.records {
			bad := r.outcome != ok || r.endMs-r.startMs > slowMs
			if r.endMs >= at && r.startMs < next && bad {
				lastBad = math.Max(lastBad, r.endMs-at)
			}
			if r.startMs < at || r.startMs >= next {
				continue
			}
			calls++
			if r.outcome != ok {
				failed++
			} else if firstOk == nil {
				firstOk = r.endMs - at
			}
		}
		perEvent = append(perEvent, map[string]any{
			"command": evs[i].cmd, "at_ms": at, "calls": calls, "failed": failed,
			"disrupted_ms": lastBad, "first_ok_ms": firstOk,
		})
	}
	return map[string]any{
		"client": "rpcx-go", "calls": len(t.records) + t.dropped, "ok": counts[ok],
		"wrong_replies": counts[wrongReply], "retryable_errors": counts[retryable],
		"fatal_errors": counts[fatal], "errors": t.errors,
		"p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_call_ms": maxCall, "events": perEvent,
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "faultload:", err)
	os.Exit(2)
}
