// Command rpcxserver is a stock rpcx-go server with the test and benchmark
// services of the project. It is the reference that cmd/interop checks and
// the rpcx-go baseline of the benchmarks.
//
//	GOMAXPROCS=1 go run ./cmd/rpcxserver -addr 127.0.0.1:8973 [-auth TOKEN] [-cors] [-log]
//
// The port also serves rpcx-go's HTTP gateway and JSON-RPC 2.0 (cmd/httpdiff
// compares them with another server's).
//
// Services:
//
//	Arith.Mul, Arith.Add  {"A":int,"B":int} -> {"C":int}
//	Hello.Say             BenchmarkMessage -> the same with field1="OK", field2=100
//	Echo.Echo             raw handler: the payload echoed, request metadata copied into the response metadata
//	Test.Sleep            {"Ms":int} -> {"Ms":int} after sleeping Ms milliseconds
//	Test.Fail             {"A":int,"B":int} -> error "test failure: A=<A> B=<B>"
//	Test.Meta             anything -> {"C":1}, request metadata copied into the response metadata
//	Test.Push             {"Count":int,"Payload":string} -> Count server pushes Test.Push
//	                      (metadata n=<index>, payload = Payload), then {"C":Count}
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/benchmsg"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/tlsconf"
	pb "github.com/ringrpc/ringrpc/bench-harness/go/proto"
	rlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"
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

// Hello serves the benchmark workload.
type Hello struct{}

// Say sets field1 = "OK" and field2 = 100 on the decoded request and returns it.
func (Hello) Say(_ context.Context, args *pb.BenchmarkMessage, reply *pb.BenchmarkMessage) error {
	benchmsg.Handle(args)
	benchmsg.ShallowCopy(reply, args)
	return nil
}

// Test holds the behaviour checks of cmd/interop.
type Test struct {
	srv *server.Server
}

// MaxPush bounds Test.Push's Count.
const MaxPush = 10000

// Sleep sleeps args.Ms milliseconds and returns them.
func (Test) Sleep(_ context.Context, args *api.SleepArgs, reply *api.SleepArgs) error {
	time.Sleep(time.Duration(args.Ms) * time.Millisecond)
	reply.Ms = args.Ms
	return nil
}

// Fail always fails with a text derived from its arguments.
func (Test) Fail(_ context.Context, args *api.Args, _ *api.Reply) error {
	return errors.New(api.FailText(*args))
}

// Meta copies the request metadata into the response metadata.
func (Test) Meta(ctx context.Context, _ *api.Args, reply *api.Reply) error {
	req, _ := ctx.Value(share.ReqMetaDataKey).(map[string]string)
	copyMetadata(req, ctx.Value(share.ResMetaDataKey))
	reply.C = 1
	return nil
}

// Push sends args.Count server messages on the caller's connection, then replies.
func (t Test) Push(ctx context.Context, args *api.PushArgs, reply *api.Reply) error {
	if args.Count < 0 || args.Count > MaxPush {
		return fmt.Errorf("push count %d out of range [0, %d]", args.Count, MaxPush)
	}
	conn, ok := ctx.Value(server.RemoteConnContextKey).(net.Conn)
	if !ok {
		return errors.New("push: no connection in the context")
	}
	for i := 0; i < args.Count; i++ {
		meta := map[string]string{api.PushMetaKey: strconv.Itoa(i)}
		if err := t.srv.SendMessage(conn, api.TestService, "Push", meta, []byte(args.Payload)); err != nil {
			return fmt.Errorf("push %d: %w", i, err)
		}
	}
	reply.C = args.Count
	return nil
}

// copyMetadata copies request metadata into the response metadata map that
// the server sends back after the handler returns.
func copyMetadata(req map[string]string, res any) {
	resMeta, _ := res.(map[string]string)
	if resMeta == nil {
		return
	}
	for k, v := range req {
		resMeta[k] = v
	}
}

// echo is the raw handler of Echo.Echo: it decodes the payload as bytes with
// the request's codec (no copy for SerializeNone) and writes it back.
func echo(ctx *server.Context) error {
	copyMetadata(ctx.Metadata(), ctx.Get(share.ResMetaDataKey))
	var payload []byte
	if err := ctx.Bind(&payload); err != nil {
		return err
	}
	return ctx.Write(payload)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8973", "listen `address`")
	auth := flag.String("auth", "", "if set, accept only requests whose __AUTH metadata equals this `token`")
	verbose := flag.Bool("log", false, "keep rpcx's own logging (off by default)")
	tlsFlags := tlsconf.ServerFlags()
	cors := flag.Bool("cors", false, "answer CORS from any origin on the gateway and JSON-RPC (SetCORS(AllowAllCORSOptions()))")
	flag.Parse()

	if !*verbose {
		rlog.SetDummyLogger()
	}
	if err := benchmsg.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "rpcxserver: %v\n", err)
		os.Exit(1)
	}

	tlsConfig, err := tlsFlags.Config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rpcxserver: %v\n", err)
		os.Exit(1)
	}
	var opts []server.OptionFn
	if tlsConfig != nil {
		opts = append(opts, server.WithTLSConfig(tlsConfig))
	}
	s := server.NewServer(opts...)
	if *cors {
		s.SetCORS(server.AllowAllCORSOptions())
	}
	if *auth != "" {
		token := *auth
		s.AuthFunc = func(_ context.Context, _ *protocol.Message, got string) error {
			if got == token {
				return nil
			}
			return errors.New(api.AuthErrorText)
		}
	}
	for name, rcvr := range map[string]any{
		api.ArithService: new(Arith),
		api.HelloService: new(Hello),
		api.TestService:  &Test{srv: s},
	} {
		if err := s.RegisterName(name, rcvr, ""); err != nil {
			fmt.Fprintf(os.Stderr, "rpcxserver: register %s: %v\n", name, err)
			os.Exit(1)
		}
	}
	s.AddHandler(api.EchoService, "Echo", echo)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve("tcp", *addr) }()
	select {
	case <-s.Started:
	case err := <-serveErr:
		fmt.Fprintf(os.Stderr, "rpcxserver: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("rpcxserver listening on %s\n", s.Address())

	select {
	case <-sig:
	case err := <-serveErr:
		if err != nil && !errors.Is(err, server.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "rpcxserver: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		s.Close()
	}
}
