// Command otelserver is a stock rpcx-go server with a server plugin that joins each
// request to its caller's trace the way rpcx-go's OpenTelemetry plugin
// (rpcx-plugins) does: it extracts the W3C trace context from the request metadata with
// go.opentelemetry.io/otel's propagator and starts the server span as its child. The
// span's ids come back in the response metadata, so a client can check that the server
// span's parent is its own call span:
//
//	otel_trace_id           the server span's trace id (32 hex digits)
//	otel_span_id            the server span's own id
//	otel_parent_span_id     its parent's span id (the caller's span)
//	otel_parent_remote      "true" when the parent came from the request metadata
//
//	go run ./cmd/otelserver -addr 127.0.0.1:0
//
// Service: Arith.Mul {"A":int,"B":int} -> {"C":int}.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Arith multiplies.
type Arith struct{}

// Mul returns A*B.
func (Arith) Mul(_ context.Context, args *api.Args, reply *api.Reply) error {
	reply.C = args.A * args.B
	return nil
}

// tracePlugin starts a server span per request, parented by the W3C context in the
// request metadata, and reports the span's ids in the response metadata.
type tracePlugin struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// PreHandleRequest runs before the service method, with the request metadata parsed.
func (p tracePlugin) PreHandleRequest(ctx context.Context, r *protocol.Message) error {
	parent := p.propagator.Extract(context.Background(), propagation.MapCarrier(r.Metadata))
	_, span := p.tracer.Start(parent, r.ServicePath+"."+r.ServiceMethod,
		trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	res, ok := ctx.Value(share.ResMetaDataKey).(map[string]string)
	if !ok {
		return nil
	}
	sc := span.SpanContext()
	res["otel_trace_id"] = sc.TraceID().String()
	res["otel_span_id"] = sc.SpanID().String()
	if ro, ok := span.(sdktrace.ReadOnlySpan); ok {
		res["otel_parent_span_id"] = ro.Parent().SpanID().String()
		res["otel_parent_remote"] = strconv.FormatBool(ro.Parent().IsRemote())
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()

	provider := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	s := server.NewServer()
	s.Plugins.Add(tracePlugin{
		tracer:     provider.Tracer("otelserver"),
		propagator: propagation.TraceContext{},
	})
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		<-stop
		s.Close()
	}()
	fmt.Printf("otelserver listening on %s\n", ln.Addr())
	if err := s.ServeListener("tcp", ln); err != nil && err != server.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
