package main

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/benchmsg"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/vectors"
	pb "github.com/ringrpc/ringrpc/bench-harness/go/proto"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"
	"google.golang.org/protobuf/proto"
)

// Checks of the payload codecs, metadata and compression.

func checkArithJSON(ctx context.Context, e *env) error {
	c, err := e.dial(option(protocol.JSON))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = e.meta(ctx, nil, nil)
	if err := mul(ctx, c.Call, 10, 20); err != nil {
		return err
	}
	var r api.Reply
	if err := c.Call(ctx, api.ArithService, "Add", &api.Args{A: 10, B: 20}, &r); err != nil {
		return fmt.Errorf("Arith.Add: %w", err)
	}
	if r.C != 30 {
		return fmt.Errorf("Arith.Add(10, 20) = %d", r.C)
	}
	return nil
}

func checkArithMsgpack(ctx context.Context, e *env) error {
	xc, err := e.xclient(api.ArithService, client.DefaultOption) // MsgPack is the default codec
	if err != nil {
		return err
	}
	defer xc.Close()
	call := func(ctx context.Context, _, method string, args, reply any) error {
		return xc.Call(ctx, method, args, reply)
	}
	for _, ab := range [][2]int{{7, 6}, {-3, 5}, {1 << 20, 1 << 20}} {
		if err := mul(ctx, call, ab[0], ab[1]); err != nil {
			return err
		}
	}
	return nil
}

func checkHelloProtobuf(ctx context.Context, e *env) error {
	c, err := e.dial(option(protocol.ProtoBuffer))
	if err != nil {
		return err
	}
	defer c.Close()
	reply := &pb.BenchmarkMessage{}
	if err := c.Call(e.meta(ctx, nil, nil), api.HelloService, "Say", benchmsg.NewRequest(), reply); err != nil {
		return fmt.Errorf("Hello.Say: %w", err)
	}
	if !benchmsg.IsGoodReply(reply) {
		return fmt.Errorf("reply field1 = %q, want %q", reply.GetField1(), benchmsg.ReplyField1)
	}
	if reply.GetField2() != benchmsg.ReplyField2 || reply.GetField9() != benchmsg.Text || reply.GetField3() != benchmsg.IntValue {
		return fmt.Errorf("reply field2=%d field3=%d field9=%q", reply.GetField2(), reply.GetField3(), reply.GetField9())
	}
	if n := proto.Size(reply); n != benchmsg.ReplySize {
		return fmt.Errorf("reply encodes to %d bytes, want %d", n, benchmsg.ReplySize)
	}
	return nil
}

func checkEchoRaw(ctx context.Context, e *env) error {
	c, err := e.dial(option(protocol.SerializeNone))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = e.meta(ctx, nil, nil)
	for _, p := range [][]byte{[]byte("hello, rpcx"), vectors.PatternPayload(16), vectors.PatternPayload(581)} {
		var out []byte
		if err := c.Call(ctx, api.EchoService, "Echo", p, &out); err != nil {
			return fmt.Errorf("Echo.Echo(%d bytes): %w", len(p), err)
		}
		if !bytes.Equal(out, p) {
			return fmt.Errorf("Echo.Echo(%d bytes) returned %s", len(p), short(out))
		}
	}
	var out []byte
	if err := c.Call(ctx, api.EchoService, "Echo", []byte{}, &out); err != nil {
		return fmt.Errorf("Echo.Echo(empty): %w", err)
	}
	if len(out) != 0 {
		return fmt.Errorf("Echo.Echo(empty) returned %d bytes", len(out))
	}
	return nil
}

func checkMetadata(ctx context.Context, e *env) error {
	c, err := e.dial(client.DefaultOption)
	if err != nil {
		return err
	}
	defer c.Close()
	sent := map[string]string{"ping": "pong", "trace": "abc123", "empty": ""}
	res := map[string]string{}
	var r api.Reply
	if err := c.Call(e.meta(ctx, sent, res), api.TestService, "Meta", &api.Args{A: 1, B: 2}, &r); err != nil {
		return fmt.Errorf("Test.Meta: %w", err)
	}
	if r.C != 1 {
		return fmt.Errorf("Test.Meta returned C=%d, want 1", r.C)
	}
	for k, v := range sent {
		if got, ok := res[k]; !ok || got != v {
			return fmt.Errorf("response metadata %v lacks %s=%q", res, k, v)
		}
	}
	// Responses never echo request metadata by themselves.
	res2 := map[string]string{}
	if err := mul(e.meta(ctx, sent, res2), c.Call, 3, 4); err != nil {
		return err
	}
	for k := range sent {
		if _, ok := res2[k]; ok {
			return fmt.Errorf("Arith.Mul response echoed request metadata %s: %v", k, res2)
		}
	}
	return nil
}

// gzipProbe sees the messages the client encodes and decodes.
type gzipProbe struct {
	reqGzip, resGzip, resPlain atomic.Int32
}

func (p *gzipProbe) ClientBeforeEncode(m *protocol.Message) error {
	if m.CompressType() == protocol.Gzip {
		p.reqGzip.Add(1)
	}
	return nil
}

func (p *gzipProbe) ClientAfterDecode(m *protocol.Message) error {
	if m.CompressType() == protocol.Gzip {
		p.resGzip.Add(1)
	} else {
		p.resPlain.Add(1)
	}
	return nil
}

func checkGzip(ctx context.Context, e *env) error {
	opt := option(protocol.SerializeNone)
	opt.CompressType = protocol.Gzip
	probe := &gzipProbe{}
	c, err := e.dial(opt, probe)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = e.meta(ctx, nil, nil)
	for i, p := range [][]byte{vectors.PatternPayload(4096), randomBytes(4096, 7)} {
		var out []byte
		if err := c.Call(ctx, api.EchoService, "Echo", p, &out); err != nil {
			return fmt.Errorf("Echo.Echo(4 KiB gzip): %w", err)
		}
		if !bytes.Equal(out, p) {
			return fmt.Errorf("Echo.Echo(4 KiB gzip) returned %s", short(out))
		}
		if got := probe.reqGzip.Load(); got != int32(i+1) {
			return fmt.Errorf("%d requests were gzip'ed, want %d", got, i+1)
		}
		if got := probe.resGzip.Load(); got != int32(i+1) {
			return fmt.Errorf("response %d was not gzip'ed (request compressed, payload > 1024)", i+1)
		}
	}
	// At most 1024 bytes: neither the request nor the response is compressed.
	small := vectors.PatternPayload(1000)
	var out []byte
	if err := c.Call(ctx, api.EchoService, "Echo", small, &out); err != nil {
		return fmt.Errorf("Echo.Echo(1000 bytes): %w", err)
	}
	if !bytes.Equal(out, small) {
		return fmt.Errorf("Echo.Echo(1000 bytes) returned %s", short(out))
	}
	if probe.reqGzip.Load() != 2 || probe.resGzip.Load() != 2 || probe.resPlain.Load() != 1 {
		return fmt.Errorf("small echo: %d gzip requests, %d gzip responses, %d plain responses; want 2, 2, 1",
			probe.reqGzip.Load(), probe.resGzip.Load(), probe.resPlain.Load())
	}
	return nil
}
