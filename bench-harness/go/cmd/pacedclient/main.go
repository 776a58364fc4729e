// Command pacedclient calls an rpcx server at a fixed rate with rpcx-go's own
// client, one call in flight per connection: the Go client of
// `ringrpc-bench client-cost`, which reads this process's CPU from /proc. It
// prints "window-start" when its measured window begins and one JSON line of
// counts when it ends, then exits once its stdin closes.
//
// Connection i of C carries rate/C calls/s: its k-th call's turn is at
// (i + k*C)/rate seconds after the connections are open, and it is sent at the
// first tick (-tick, 1ms by default, as in ringrpc-paced-client) at or after
// its turn; a call due while the previous one is still out is sent as soon as
// that one is back (and counted late if it is a whole period behind). Calls
// are counted when they complete.
//
//	GOMAXPROCS=1 taskset -c 0 pacedclient -addr 127.0.0.1:8972 -rate 10000 -conns 8
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/smallnest/rpcx/client"
	rlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
)

// counts is the JSON line; ringrpc-bench's WindowCounts has the same fields.
type counts struct {
	Client     string  `json:"client"`
	RateTarget float64 `json:"rate_target"`
	Conns      int     `json:"conns"`
	WindowS    float64 `json:"window_s"`
	Good       uint64  `json:"good"`
	Failed     uint64  `json:"failed"`
	Late       uint64  `json:"late"`
	Allocs     int64   `json:"allocs"`
	FirstError string  `json:"first_error,omitempty"`
}

// tally is what the connections counted since it was last taken.
type tally struct {
	mu                 sync.Mutex
	good, failed, late uint64
	firstError         string
}

func (t *tally) take() (good, failed, late uint64, firstError string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	good, failed, late, firstError = t.good, t.failed, t.late, t.firstError
	t.good, t.failed, t.late, t.firstError = 0, 0, 0, ""
	return
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "server `address`")
	rate := flag.Float64("rate", 1000, "total calls/s over all connections")
	conns := flag.Int("conns", 1, "`connections`, one call in flight on each")
	payloadLen := flag.Int("payload", 581, "echo payload `bytes` (SerializeNone)")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up `duration` (not measured)")
	measure := flag.Duration("duration", 5*time.Second, "measured `duration`")
	tick := flag.Duration("tick", time.Millisecond, "calls leave at the first multiple of this `duration` at or after their turn (0: at their turn)")
	flag.Parse()
	if *conns < 1 || *rate <= 0 || *measure <= 0 || *tick < 0 {
		fmt.Fprintln(os.Stderr, "pacedclient: -conns, -rate and -duration must be > 0, -tick >= 0")
		os.Exit(2)
	}
	rlog.SetDummyLogger()

	payload := make([]byte, *payloadLen)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	opt := client.DefaultOption
	opt.SerializeType = protocol.SerializeNone
	clients := make([]*client.Client, 0, *conns)
	for range *conns {
		c := client.NewClient(opt)
		if err := c.Connect("tcp", *addr); err != nil {
			fmt.Fprintf(os.Stderr, "pacedclient: connect %s: %v\n", *addr, err)
			os.Exit(1)
		}
		clients = append(clients, c)
	}

	start := time.Now()
	end := *warmup + *measure
	period := time.Duration(float64(*conns) / *rate * 1e9)
	t := &tally{}
	for i, c := range clients {
		go calls(c, i, *conns, *rate, *tick, period, start, end, payload, t)
	}

	time.Sleep(*warmup - time.Since(start))
	t.take()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	mallocs := mem.Mallocs
	fmt.Println("window-start")
	time.Sleep(end - time.Since(start))
	good, failed, late, firstError := t.take()
	runtime.ReadMemStats(&mem)
	line, err := json.Marshal(counts{
		Client: "rpcx-go", RateTarget: *rate, Conns: *conns, WindowS: measure.Seconds(),
		Good: good, Failed: failed, Late: late, Allocs: int64(mem.Mallocs - mallocs),
		FirstError: firstError,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pacedclient: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// calls makes connection conn's calls, one at a time, each when due.
func calls(c *client.Client, conn, conns int, rate float64, tick, period time.Duration,
	start time.Time, end time.Duration, payload []byte, t *tally) {
	ctx := context.Background()
	for k := 0; ; k++ {
		due := time.Duration(math.Round((float64(conn) + float64(k)*float64(conns)) / rate * 1e9))
		if tick > 0 {
			due = (due + tick - 1) / tick * tick
		}
		if due >= end {
			return
		}
		now := time.Since(start)
		late := false
		if due > now {
			time.Sleep(due - now)
		} else {
			late = now-due >= period
		}
		reply := new([]byte)
		err := c.Call(ctx, api.EchoService, "Echo", payload, reply)
		t.mu.Lock()
		if late {
			t.late++
		}
		switch {
		case err != nil:
			t.failed++
			if t.firstError == "" {
				t.firstError = err.Error()
			}
		case !bytes.Equal(*reply, payload):
			t.failed++
			if t.firstError == "" {
				t.firstError = "wrong reply"
			}
		default:
			t.good++
		}
		t.mu.Unlock()
	}
}
