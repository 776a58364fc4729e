// Command otelcall calls a server with the rpcx-go client, each call inside a Go
// OpenTelemetry span whose W3C trace context an rpcx client plugin injects into the
// request metadata (traceparent, tracestate), as rpcx-go's OpenTelemetry plugin
// (rpcx-plugins) does. It prints one line per call:
//
//	call trace_id=<32 hex> span_id=<16 hex>
//
// so a test can check that the server's span has the Go span as its parent. Example:
//
//	otelcall -addr 127.0.0.1:8972 -calls 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracePlugin is an rpcx client PreCall plugin: it writes the span context of the call's
// context into the request metadata with the W3C trace-context propagator.
type tracePlugin struct {
	propagator propagation.TextMapPropagator
}

func (p *tracePlugin) PreCall(ctx context.Context, servicePath, serviceMethod string, args interface{}) error {
	meta, ok := ctx.Value(share.ReqMetaDataKey).(map[string]string)
	if !ok {
		return fmt.Errorf("no request metadata map in the context")
	}
	p.propagator.Inject(ctx, propagation.MapCarrier(meta))
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "server `address`")
	calls := flag.Int("calls", 3, "number of `calls`")
	state := flag.String("tracestate", "ringrpc=test", "W3C tracestate to send")
	flag.Parse()

	provider := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = provider.Shutdown(context.Background()) }()
	tracer := provider.Tracer("otelcall")

	d, err := client.NewPeer2PeerDiscovery("tcp@"+*addr, "")
	if err != nil {
		fail(err)
	}
	opt := client.DefaultOption
	opt.SerializeType = protocol.SerializeNone
	xc := client.NewXClient("Echo", client.Failfast, client.RandomSelect, d, opt)
	defer xc.Close()
	plugins := client.NewPluginContainer()
	plugins.Add(&tracePlugin{propagator: propagation.TraceContext{}})
	xc.SetPlugins(plugins)

	ts, err := trace.ParseTraceState(*state)
	if err != nil {
		fail(err)
	}
	for i := 0; i < *calls; i++ {
		ctx, span := tracer.Start(context.Background(), "Echo.Echo", trace.WithSpanKind(trace.SpanKindClient))
		sc := span.SpanContext().WithTraceState(ts)
		ctx = trace.ContextWithSpanContext(ctx, sc)
		ctx = context.WithValue(ctx, share.ReqMetaDataKey, map[string]string{})
		var reply []byte
		err := xc.Call(ctx, "Echo", []byte(fmt.Sprintf("call %d", i)), &reply)
		span.End()
		if err != nil {
			fail(err)
		}
		fmt.Printf("call trace_id=%s span_id=%s\n", sc.TraceID(), sc.SpanID())
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "otelcall:", err)
	os.Exit(1)
}
