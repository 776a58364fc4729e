// Command etcdpeer is the rpcx-go side of the etcd registry interop checks:
// a stock rpcx-go server registered through the rpcx-etcd plugin, and a stock
// rpcx-go XClient that discovers servers through rpcx-etcd.
//
//	go run ./cmd/etcdpeer serve -etcd 127.0.0.1:2379 -base /rpcx_test -addr 127.0.0.1:0 [-meta weight=2] [-update 5s]
//	go run ./cmd/etcdpeer call  -etcd 127.0.0.1:2379 -base /rpcx_test [-n 20] [-timeout 10s]
//
// serve registers Arith (Mul, Add) under <base>/Arith/tcp@<addr>, prints
// "etcdpeer serving tcp@<addr>" once registered, and on SIGINT/SIGTERM shuts
// down gracefully (which deletes its node key). -update is rpcx-etcd's
// UpdateInterval: the node keys are rewritten that often, and a lease granted
// after the first (rpcx-etcd's store grants its first with a fixed 30 s TTL)
// has a TTL of twice that.
//
// call builds an XClient (Failover, RoundRobin) over rpcx-etcd discovery,
// waits until at least -min servers are discovered, calls Arith.Mul -n times
// with A=i, B=7, checks every reply, prints "ok <n> calls to <k> servers: <keys>"
// (the servers discovered), and exits 1 on any failure.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	etcdclient "github.com/rpcxio/rpcx-etcd/client"
	"github.com/rpcxio/rpcx-etcd/serverplugin"
	"github.com/smallnest/rpcx/client"
	rlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"
)

// Arith multiplies and adds.
type Arith struct{}

// Mul returns A*B.
func (Arith) Mul(_ context.Context, args *api.Args, reply *api.Reply) error {
	reply.C = args.A * args.B
	return nil
}

// Add returns A+B.
func (Arith) Add(_ context.Context, args *api.Args, reply *api.Reply) error {
	reply.C = args.A + args.B
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: etcdpeer serve|call [flags]")
	}
	mode, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("etcdpeer "+mode, flag.ExitOnError)
	etcd := fs.String("etcd", "127.0.0.1:2379", "etcd `host:port` list, comma separated")
	base := fs.String("base", "/rpcx_test", "registry base `path`")
	addr := fs.String("addr", "127.0.0.1:0", "serve: listen `address`")
	meta := fs.String("meta", "", "serve: registration metadata (URL query)")
	update := fs.Duration("update", 5*time.Second, "serve: rpcx-etcd's UpdateInterval")
	n := fs.Int("n", 20, "call: number of calls")
	min := fs.Int("min", 1, "call: wait until this many servers are discovered")
	timeout := fs.Duration("timeout", 10*time.Second, "call: overall deadline")
	verbose := fs.Bool("log", false, "keep rpcx's own logging")
	_ = fs.Parse(args)
	if !*verbose {
		rlog.SetDummyLogger()
	}
	endpoints := strings.Split(*etcd, ",")
	switch mode {
	case "serve":
		serve(endpoints, *base, *addr, *meta, *update)
	case "call":
		call(endpoints, *base, *n, *min, *timeout)
	default:
		fail("unknown mode " + mode)
	}
}

func serve(endpoints []string, base, addr, meta string, update time.Duration) {
	s := server.NewServer()
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve("tcp", addr) }()
	select {
	case <-s.Started:
	case err := <-serveErr:
		fail(err.Error())
	}
	key := "tcp@" + s.Address().String()
	plugin := &serverplugin.EtcdV3RegisterPlugin{
		ServiceAddress: key,
		EtcdServers:    endpoints,
		BasePath:       base,
		UpdateInterval: update,
	}
	if err := plugin.Start(); err != nil {
		fail("registry start: " + err.Error())
	}
	s.Plugins.Add(plugin)
	if err := s.RegisterName(api.ArithService, new(Arith), meta); err != nil {
		fail("register: " + err.Error())
	}
	fmt.Printf("etcdpeer serving %s\n", key)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-serveErr:
		fail(fmt.Sprint(err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		s.Close()
	}
	_ = plugin.Stop()
}

func call(endpoints []string, base string, n, min int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	d, err := etcdclient.NewEtcdV3Discovery(base, api.ArithService, endpoints, true, nil)
	if err != nil {
		fail("discovery: " + err.Error())
	}
	for len(d.GetServices()) < min {
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("discovered %d servers, want %d", len(d.GetServices()), min))
		}
		time.Sleep(50 * time.Millisecond)
	}
	xc := client.NewXClient(api.ArithService, client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer xc.Close()

	for i := 0; i < n; i++ {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		reply := &api.Reply{}
		err := xc.Call(ctx, "Mul", &api.Args{A: i, B: 7}, reply)
		cancel()
		if err != nil {
			fail(fmt.Sprintf("call %d: %v", i, err))
		}
		if reply.C != i*7 {
			fail(fmt.Sprintf("call %d: got %d, want %d", i, reply.C, i*7))
		}
	}
	names := make([]string, 0)
	for _, kv := range d.GetServices() {
		names = append(names, kv.Key)
	}
	sort.Strings(names)
	fmt.Printf("ok %d calls to %d servers: %s\n", n, len(names), strings.Join(names, " "))
}

func fail(msg string) {
	fmt.Fprintf(os.Stderr, "etcdpeer: %s\n", msg)
	os.Exit(1)
}
