package main

import (
	"math"
	"sync"
	"time"
)

type latencyUS struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// result is the JSON line; ringrpc-bench's Rust load generator prints the same fields.
type result struct {
	Loadgen       string    `json:"loadgen"`
	Client        string    `json:"client"`
	Workload      string    `json:"workload"`
	PayloadLen    int       `json:"payload_len"`
	Mode          string    `json:"mode"`
	Conns         int       `json:"conns"`
	Depth         int       `json:"depth"`
	Callers       int       `json:"callers"`
	RateTarget    float64   `json:"rate_target"`
	WindowS       float64   `json:"window_s"`
	Sent          int64     `json:"sent"`
	Good          int64     `json:"good"`
	Bad           int64     `json:"bad"`
	Errors        int64     `json:"errors"`
	Unfinished    int64     `json:"unfinished"`
	FirstError    string    `json:"first_error,omitempty"`
	ThroughputRPS float64   `json:"throughput_rps"`
	LatencyUS     latencyUS `json:"latency_us"`
	ServerCPUS    float64   `json:"server_cpu_s"`
	LoadgenCPUS   float64   `json:"loadgen_cpu_s"`
	StealTicks    []int64   `json:"steal_ticks"`
	BusyTicks     []int64   `json:"busy_ticks"`
	TimelineRPS   []float64 `json:"timeline_rps"`
}

func run(cfg *config) (*result, error) {
	w := newWorkload(cfg)
	conns := make([]connection, 0, cfg.conns)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for range cfg.conns {
		c, err := dial(cfg, w)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
	}

	clk := clock{base: time.Now()}
	rec := newRecorder(clk, cfg.warmup, cfg.duration)
	drained := make(chan struct{})
	var workers sync.WaitGroup
	startWorkers(cfg, conns, rec, drained, &workers)

	time.Sleep(time.Duration(rec.start - clk.now()))
	first := takeSample(clk, cfg.serverPID)
	tl := timeline(rec)
	if d := rec.end - clk.now(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	last := takeSample(clk, cfg.serverPID)

	finished := make(chan struct{})
	go func() { workers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(cfg.drain):
		close(drained)
	}

	window := float64(rec.end-rec.start) / 1e9
	res := &result{
		Loadgen: "go", Client: cfg.client + "-go", Workload: cfg.workload, Mode: cfg.mode(),
		Conns: cfg.conns, Depth: cfg.depth, Callers: cfg.callers, RateTarget: cfg.rate,
		WindowS: window, Sent: rec.sent.Load(), Good: rec.good.Load(), Bad: rec.bad.Load(),
		Errors: rec.errs.Load(), ServerCPUS: -1,
		LoadgenCPUS: (last.selfCPU - first.selfCPU).Seconds(), TimelineRPS: tl,
	}
	if cfg.workload == "echo-raw" {
		res.PayloadLen = cfg.payloadLen
	} else {
		res.PayloadLen = 581
	}
	res.Unfinished = res.Sent - res.Good - res.Bad - res.Errors
	res.ThroughputRPS = float64(res.Good) / window
	if e, ok := rec.firstErr.Load().(string); ok {
		res.FirstError = e
	}
	if first.serverTick >= 0 && last.serverTick >= 0 {
		res.ServerCPUS = float64(last.serverTick-first.serverTick) / clockTicksPerSecond
	}
	if len(first.cpus) == len(last.cpus) {
		for i := range first.cpus {
			res.StealTicks = append(res.StealTicks, last.cpus[i].steal-first.cpus[i].steal)
			res.BusyTicks = append(res.BusyTicks, last.cpus[i].busy-first.cpus[i].busy)
		}
	}
	rec.mu.Lock()
	h := rec.hist
	res.LatencyUS = latencyUS{
		Count: h.TotalCount(), Mean: h.Mean() / 1e3,
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)),
		P99: us(h.ValueAtQuantile(99)), P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max()),
	}
	rec.mu.Unlock()
	if math.IsNaN(res.LatencyUS.Mean) {
		res.LatencyUS.Mean = 0
	}
	return res, nil
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// startWorkers launches the goroutines of the configured load shape.
func startWorkers(cfg *config, conns []connection, rec *recorder, drained <-chan struct{}, wg *sync.WaitGroup) {
	spawn := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	switch cfg.mode() {
	case "open":
		queues := make([]chan int64, len(conns))
		for i, c := range conns {
			queues[i] = make(chan int64, 1<<16)
			for range cfg.depth {
				call, queue := c.newSyncCall(), queues[i]
				spawn(func() {
					for due := range queue {
						good, err := call()
						rec.finished(due, good, err)
					}
				})
			}
		}
		spawn(func() { schedule(cfg.rate, rec, queues) })
	case "callers":
		for i := range cfg.callers {
			call := conns[i%len(conns)].newSyncCall()
			spawn(func() { closedLoop(call, rec) })
		}
	default:
		for _, c := range conns {
			if r, ok := c.(*rpcxConn); ok {
				spawn(func() { r.window(cfg.depth, rec, drained) })
				continue
			}
			for range cfg.depth {
				call := c.newSyncCall()
				spawn(func() { closedLoop(call, rec) })
			}
		}
	}
}

func closedLoop(call syncCall, rec *recorder) {
	for rec.running() {
		at := rec.clock.now()
		rec.issued(at)
		good, err := call()
		rec.finished(at, good, err)
	}
}

// schedule hands out intended send times at a fixed rate, round-robin over
// the connections' queues, until the window ends. A send that waits for a
// free worker keeps its intended time, so its wait is part of its latency.
func schedule(rate float64, rec *recorder, queues []chan int64) {
	defer func() {
		for _, q := range queues {
			close(q)
		}
	}()
	interval := 1e9 / rate
	for k := 0; ; {
		now := rec.clock.now()
		for {
			due := int64(float64(k) * interval)
			if due > now {
				break
			}
			if due >= rec.end {
				return
			}
			rec.issued(due)
			queues[k%len(queues)] <- due
			k++
		}
		next := int64(float64(k) * interval)
		time.Sleep(time.Duration(next - rec.clock.now()))
	}
}
