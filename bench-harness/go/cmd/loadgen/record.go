package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// clockTicksPerSecond is USER_HZ, the unit of /proc/<pid>/stat and /proc/stat
// times; it is 100 on every Linux architecture Go supports.
const clockTicksPerSecond = 100

// timelineStep is the width of one bucket of the throughput timeline that
// the harness scans for dips (a host stall shows up as a near-empty bucket).
const timelineStep = 100 * time.Millisecond

// clock gives monotonic nanoseconds since the start of the run.
type clock struct{ base time.Time }

func (c clock) now() int64 { return int64(time.Since(c.base)) }

// recorder counts the calls whose send (or intended send) time falls in the
// measured window [start, end) and keeps their latencies in an HdrHistogram.
type recorder struct {
	clock      clock
	start, end int64

	mu   sync.Mutex
	hist *hdrhistogram.Histogram // nanoseconds

	sent, good, bad, errs atomic.Int64
	completed             atomic.Int64 // every good completion, warm-up included: the timeline
	firstErr              atomic.Value
}

func newRecorder(c clock, warmup, duration time.Duration) *recorder {
	return &recorder{
		clock: c,
		start: int64(warmup),
		end:   int64(warmup + duration),
		hist:  hdrhistogram.New(1_000, 60_000_000_000, 3),
	}
}

func (r *recorder) measured(sendNs int64) bool { return sendNs >= r.start && sendNs < r.end }

// issued notes that a call was sent (or was due) at sendNs.
func (r *recorder) issued(sendNs int64) {
	if r.measured(sendNs) {
		r.sent.Add(1)
	}
}

// finished records the outcome of a call sent (or due) at sendNs.
func (r *recorder) finished(sendNs int64, good bool, err error) {
	done := r.clock.now()
	if err == nil && good {
		r.completed.Add(1)
	}
	if !r.measured(sendNs) {
		return
	}
	switch {
	case err != nil:
		r.errs.Add(1)
		r.firstErr.CompareAndSwap(nil, err.Error())
	case !good:
		r.bad.Add(1)
	default:
		r.good.Add(1)
		r.mu.Lock()
		_ = r.hist.RecordValue(max(done-sendNs, 1_000))
		r.mu.Unlock()
	}
}

func (r *recorder) running() bool { return r.clock.now() < r.end }

// sample is what is read from /proc at each end of the measured window.
type sample struct {
	at         int64
	serverTick int64
	cpus       []cpuTimes
	selfCPU    time.Duration
}

func takeSample(c clock, serverPID int) sample {
	s := sample{at: c.now(), serverTick: -1, cpus: readCPUTimes()}
	if serverPID > 0 {
		s.serverTick = processTicks(serverPID)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.selfCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// processTicks returns utime+stime of a process (all its threads, dead ones
// included) from /proc/<pid>/stat, or -1.
func processTicks(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	text := string(raw)
	// The command name may contain spaces and parentheses: fields resume
	// after the last ')'. Field 3 (state) is rest[0], so utime (14) is rest[11].
	rest := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(rest) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(rest[11], 10, 64)
	stime, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return utime + stime
}

// cpuTimes is where one CPU's time went, in ticks since boot.
type cpuTimes struct {
	busy  int64 // user + nice + system: running tasks, ours or anyone's
	steal int64 // given by the hypervisor to someone else
}

// readCPUTimes returns the times of each CPU from /proc/stat.
func readCPUTimes() []cpuTimes {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out []cpuTimes
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var v [8]int64
		for i := range v {
			n, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return nil
			}
			v[i] = n
		}
		out = append(out, cpuTimes{busy: v[0] + v[1] + v[2], steal: v[7]})
	}
	return out
}

// timeline samples the good-completion counter every timelineStep over the
// window and returns calls/s per bucket.
func timeline(r *recorder) []float64 {
	var out []float64
	prev := r.completed.Load()
	prevAt := r.clock.now()
	for next := r.start + int64(timelineStep); next <= r.end; next += int64(timelineStep) {
		if d := next - r.clock.now(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		cur, at := r.completed.Load(), r.clock.now()
		out = append(out, float64(cur-prev)/(float64(at-prevAt)/1e9))
		prev, prevAt = cur, at
	}
	return out
}
