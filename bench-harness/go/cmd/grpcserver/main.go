// Command grpcserver serves the benchmark workload (Hello.Say with a
// BenchmarkMessage) with grpc-go: the gRPC baseline of the benchmarks.
//
//	GOMAXPROCS=1 go run ./cmd/grpcserver -addr 127.0.0.1:8974
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/benchmsg"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/tlsconf"
	pb "github.com/ringrpc/ringrpc/bench-harness/go/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

type hello struct {
	pb.UnimplementedHelloServer
}

// Say sets field1 = "OK" and field2 = 100 on the decoded request and returns it.
func (hello) Say(_ context.Context, in *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
	benchmsg.Handle(in)
	return in, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8974", "listen `address`")
	tlsFlags := tlsconf.ServerFlags()
	flag.Parse()

	if err := benchmsg.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "grpcserver: %v\n", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpcserver: %v\n", err)
		os.Exit(1)
	}
	tlsConfig, err := tlsFlags.Config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpcserver: %v\n", err)
		os.Exit(1)
	}
	var opts []grpc.ServerOption
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	s := grpc.NewServer(opts...)
	pb.RegisterHelloServer(s, hello{})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ln) }()
	fmt.Printf("grpcserver listening on %s\n", ln.Addr())

	select {
	case <-sig:
	case err := <-serveErr:
		if err != nil {
			fmt.Fprintf(os.Stderr, "grpcserver: %v\n", err)
			os.Exit(1)
		}
		return
	}
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		s.Stop()
	}
}
