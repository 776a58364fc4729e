// Command interop checks, with the stock rpcx-go client, that a server at
// -addr behaves like an rpcx-go server running cmd/rpcxserver's services.
//
//	go run ./cmd/interop -addr 127.0.0.1:8973 [-auth TOKEN] [-skip a,b] [-v]
//	go run ./cmd/interop -addr unix@/tmp/ringrpc.sock
//	go run ./cmd/interop -addr tcp@[::1]:8973
//
// Every check prints "PASS name", "FAIL name: reason" or "SKIP name"; the
// last line is "interop: N passed, M failed" and the exit status is 1 when
// M > 0. Every wait is bounded, so the program ends within about a minute.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/smallnest/rpcx/client"
	rlog "github.com/smallnest/rpcx/log"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/tlsconf"
)

// budget bounds the whole run; a check that would start after it fails.
const budget = 55 * time.Second

type env struct {
	network string // "tcp" or "unix"
	addr    string // host:port, or the socket path
	token   string
}

type check struct {
	name     string
	timeout  time.Duration
	needAuth bool
	run      func(ctx context.Context, e *env) error
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8973", "server `address`: host:port, tcp@host:port, tcp@[::1]:port or unix@/path")
	token := flag.String("auth", "", "the `token` the server expects in __AUTH; auth checks run only when set")
	skip := flag.String("skip", "", "comma-separated `names` of checks to skip")
	verbose := flag.Bool("v", false, "keep rpcx's client logging")
	list := flag.Bool("list", false, "list the check names and exit")
	tlsFlags := tlsconf.ClientFlags()
	flag.Parse()

	// With -tls-ca every check runs over TLS: each one starts from
	// client.DefaultOption, so its TLSConfig is set once here.
	tlsConfig, err := tlsFlags.Config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: %v\n", err)
		os.Exit(2)
	}
	client.DefaultOption.TLSConfig = tlsConfig
	if tlsConfig != nil {
		fmt.Println("interop: over TLS")
	}

	if !*verbose {
		rlog.SetDummyLogger()
	}
	checks := allChecks()
	if *list {
		for _, c := range checks {
			fmt.Println(c.name)
		}
		return
	}

	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			skipped[s] = true
		}
	}
	known := map[string]bool{}
	for _, c := range checks {
		known[c.name] = true
	}
	for s := range skipped {
		if !known[s] {
			fmt.Fprintf(os.Stderr, "interop: unknown check %q in -skip\n", s)
			os.Exit(2)
		}
	}

	network, address, found := strings.Cut(*addr, "@")
	if !found {
		network, address = "tcp", *addr
	}
	if network != "tcp" && network != "unix" {
		fmt.Fprintf(os.Stderr, "interop: unknown network %q in -addr (tcp or unix)\n", network)
		os.Exit(2)
	}
	e := &env{network: network, addr: address, token: *token}
	deadline := time.Now().Add(budget)
	passed, failed := 0, 0
	for _, c := range checks {
		if skipped[c.name] {
			fmt.Printf("SKIP %s\n", c.name)
			continue
		}
		if c.needAuth && e.token == "" {
			fmt.Printf("SKIP %s (no -auth)\n", c.name)
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			fmt.Printf("FAIL %s: time budget of %v exhausted before the check started\n", c.name, budget)
			failed++
			continue
		}
		if err := runOne(c, e, min(c.timeout, left)); err != nil {
			fmt.Printf("FAIL %s: %v\n", c.name, err)
			failed++
		} else {
			fmt.Printf("PASS %s\n", c.name)
			passed++
		}
	}
	fmt.Printf("interop: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// runOne runs a check with a deadline. A check that does not return in time
// is reported as failed and abandoned.
func runOne(c check, e *env, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- c.run(ctx, e)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout + time.Second):
		return fmt.Errorf("timed out after %v", timeout)
	}
}
