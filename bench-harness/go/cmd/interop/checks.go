package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
)

func allChecks() []check {
	const d = 10 * time.Second
	return []check{
		{"arith_json", d, false, checkArithJSON},
		{"arith_msgpack", d, false, checkArithMsgpack},
		{"hello_protobuf", d, false, checkHelloProtobuf},
		{"echo_raw", d, false, checkEchoRaw},
		{"metadata", d, false, checkMetadata},
		{"gzip", d, false, checkGzip},
		{"heartbeat", d, false, checkHeartbeat},
		{"oneway", d, false, checkOneway},
		{"oneway_raw", d, false, checkOnewayRaw},
		{"unknown_service", d, false, checkUnknownService},
		{"unknown_method", d, false, checkUnknownMethod},
		{"service_error", d, false, checkServiceError},
		{"out_of_order", d, false, checkOutOfOrder},
		{"large_payload_4mib", 20 * time.Second, false, checkLargePayload},
		{"server_push", d, false, checkServerPush},
		{"golden_replies", d, false, checkGoldenReplies},
		{"concurrency", 40 * time.Second, false, checkConcurrency},
		{"auth_success", d, true, checkAuthSuccess},
		{"auth_failure", d, true, checkAuthFailure},
	}
}

// ---- helpers ----

func option(st protocol.SerializeType) client.Option {
	o := client.DefaultOption
	o.SerializeType = st
	return o
}

func (e *env) dial(opt client.Option, plugins ...client.Plugin) (*client.Client, error) {
	c := client.NewClient(opt)
	if len(plugins) > 0 {
		pc := client.NewPluginContainer()
		for _, p := range plugins {
			pc.Add(p)
		}
		c.Plugins = pc
	}
	if err := c.Connect(e.network, e.addr); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// meta returns ctx carrying the request metadata kv (plus __AUTH when a
// token is set) and, if res is not nil, the map that receives the response
// metadata. Only for client.Client calls: an XClient writes into the map.
func (e *env) meta(ctx context.Context, kv map[string]string, res map[string]string) context.Context {
	req := maps.Clone(kv)
	if req == nil {
		req = map[string]string{}
	}
	if e.token != "" {
		req[share.AuthKey] = e.token
	}
	if len(req) > 0 {
		ctx = context.WithValue(ctx, share.ReqMetaDataKey, req)
	}
	if res != nil {
		ctx = context.WithValue(ctx, share.ResMetaDataKey, res)
	}
	return ctx
}

func (e *env) xclient(service string, opt client.Option) (client.XClient, error) {
	d, err := client.NewPeer2PeerDiscovery(e.network+"@"+e.addr, "")
	if err != nil {
		return nil, err
	}
	xc := client.NewXClient(service, client.Failfast, client.RandomSelect, d, opt)
	if e.token != "" {
		xc.Auth(e.token)
	}
	return xc, nil
}

func isServiceError(err error) bool {
	var se client.ServiceError
	return errors.As(err, &se) && se.IsServiceError()
}

func wantServiceError(err error, text string) error {
	if err == nil {
		return fmt.Errorf("no error, want %q", text)
	}
	if err.Error() != text {
		return fmt.Errorf("error %q, want %q", err.Error(), text)
	}
	if !isServiceError(err) {
		return fmt.Errorf("error %q is a %T, not a service error", err.Error(), err)
	}
	return nil
}

func mul(ctx context.Context, call func(context.Context, string, string, any, any) error, a, b int) error {
	var r api.Reply
	if err := call(ctx, api.ArithService, "Mul", &api.Args{A: a, B: b}, &r); err != nil {
		return fmt.Errorf("Arith.Mul(%d, %d): %w", a, b, err)
	}
	if r.C != a*b {
		return fmt.Errorf("Arith.Mul(%d, %d) = %d", a, b, r.C)
	}
	return nil
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
