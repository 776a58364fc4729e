// Command loadgen drives one server with one framework's own client and prints
// one JSON line of results: the Go half of the bench harness. The same program
// drives every server, so between two runs only the server changes:
//
//	-client rpcx   the rpcx-go client (against rpcx-go and ringrpc)
//	-client grpc   the grpc-go client (against grpc-go; benchmark-message only)
//
// Load shapes:
//
//	closed, window   -conns C -depth D: D calls in flight on each connection
//	                 (rpcx: one goroutine per connection keeping D async calls
//	                 outstanding; grpc has no async call, so D goroutines)
//	closed, callers  -conns C -callers N: N goroutines each making synchronous
//	                 calls, spread round-robin over C connections
//	open             -rate R: R calls/s in total at fixed intended send times,
//	                 at most D in flight per connection; latency is measured from
//	                 the intended send time, so queueing behind a stall counts
//	                 (coordinated omission corrected, as wrk2 does)
//
// Calls whose send (or intended send) time falls in the measured window are
// counted; warm-up calls are not. With -server-pid the server's utime+stime
// over the window is read from /proc. Example:
//
//	GOMAXPROCS=1 taskset -c 0 loadgen -client rpcx -addr 127.0.0.1:8973 \
//	    -workload benchmark-message -conns 10 -depth 10 -warmup 5s -duration 10s
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	rlog "github.com/smallnest/rpcx/log"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/tlsconf"
)

type config struct {
	tls        *tls.Config // nil: plain TCP
	client     string
	addr       string
	workload   string
	payloadLen int
	conns      int
	depth      int
	callers    int
	rate       float64
	warmup     time.Duration
	duration   time.Duration
	drain      time.Duration
	serverPID  int
}

func (c *config) mode() string {
	switch {
	case c.rate > 0:
		return "open"
	case c.callers > 0:
		return "callers"
	default:
		return "window"
	}
}

func parseFlags() (*config, error) {
	c := &config{}
	flag.StringVar(&c.client, "client", "rpcx", "client `framework`: rpcx or grpc")
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8973", "server `address`")
	flag.StringVar(&c.workload, "workload", "benchmark-message", "`workload`: benchmark-message or echo-raw")
	flag.IntVar(&c.payloadLen, "payload", 581, "echo-raw payload `bytes`")
	flag.IntVar(&c.conns, "conns", 1, "`connections`")
	flag.IntVar(&c.depth, "depth", 1, "calls in flight per connection (open loop: at most)")
	flag.IntVar(&c.callers, "callers", 0, "closed loop with this many synchronous `callers` over -conns connections")
	flag.Float64Var(&c.rate, "rate", 0, "open loop: total arrival `rate` in calls/s (0: closed loop)")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "warm-up `duration` (not measured)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured `duration`")
	flag.DurationVar(&c.drain, "drain", 5*time.Second, "how long to wait for outstanding calls after the window")
	flag.IntVar(&c.serverPID, "server-pid", 0, "`pid` of the server, for its CPU time over the window")
	tlsFlags := tlsconf.ClientFlags()
	flag.Parse()
	tlsConfig, err := tlsFlags.Config()
	if err != nil {
		return nil, err
	}
	c.tls = tlsConfig

	switch {
	case c.client != "rpcx" && c.client != "grpc":
		return nil, fmt.Errorf("unknown -client %q", c.client)
	case c.workload != "benchmark-message" && c.workload != "echo-raw":
		return nil, fmt.Errorf("unknown -workload %q", c.workload)
	case c.client == "grpc" && c.workload != "benchmark-message":
		return nil, fmt.Errorf("the grpc client only runs benchmark-message")
	case c.conns < 1 || c.depth < 1 || c.callers < 0 || c.rate < 0:
		return nil, fmt.Errorf("-conns and -depth must be >= 1, -callers and -rate >= 0")
	case c.duration <= 0:
		return nil, fmt.Errorf("-duration must be > 0")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
	rlog.SetDummyLogger()
	res, err := run(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
	// Calls still outstanding after the drain are abandoned, not awaited.
	os.Exit(0)
}
