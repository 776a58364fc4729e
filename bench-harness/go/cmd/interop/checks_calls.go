package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/vectors"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/codec"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
)

// Checks of the call kinds and error paths: heartbeats, oneway, unknown names,
// ordering, large payloads, server push, golden replies, concurrency and auth.

// heartbeatProbe counts heartbeat replies.
type heartbeatProbe struct {
	n   atomic.Int32
	mu  sync.Mutex
	bad error
}

func (p *heartbeatProbe) ClientAfterDecode(m *protocol.Message) error {
	if !m.IsHeartbeat() {
		return nil
	}
	var nanos int64
	err := codec.MsgpackCodec{}.Decode(m.Payload, &nanos)
	switch {
	case m.MessageType() != protocol.Response:
		err = fmt.Errorf("heartbeat reply seq %d is not a response (byte 2 of the header)", m.Seq())
	case m.SerializeType() != protocol.MsgPack:
		err = fmt.Errorf("heartbeat reply seq %d has serialize type %d", m.Seq(), m.SerializeType())
	case err != nil:
		err = fmt.Errorf("heartbeat reply seq %d payload: %v", m.Seq(), err)
	case nanos < time.Now().Add(-time.Minute).UnixNano() || nanos > time.Now().UnixNano():
		err = fmt.Errorf("heartbeat reply seq %d echoed %d, not the time sent", m.Seq(), nanos)
	}
	if err != nil {
		p.mu.Lock()
		if p.bad == nil {
			p.bad = err
		}
		p.mu.Unlock()
		return nil
	}
	p.n.Add(1)
	return nil
}

func checkHeartbeat(ctx context.Context, e *env) error {
	opt := client.DefaultOption
	opt.Heartbeat = true
	opt.HeartbeatInterval = 100 * time.Millisecond
	opt.MaxWaitForHeartbeat = 2 * time.Second
	probe := &heartbeatProbe{}
	c, err := e.dial(opt, probe)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = e.meta(ctx, nil, nil)
	for i := 0; i < 10; i++ {
		time.Sleep(110 * time.Millisecond)
		if err := mul(ctx, c.Call, i, i+1); err != nil {
			return fmt.Errorf("call %d with heartbeats on: %w", i, err)
		}
	}
	if c.IsShutdown() || c.IsClosing() {
		return errors.New("the connection was closed (a heartbeat failed)")
	}
	probe.mu.Lock()
	bad := probe.bad
	probe.mu.Unlock()
	if bad != nil {
		return bad
	}
	if n := probe.n.Load(); n < 5 {
		return fmt.Errorf("%d heartbeat replies in ~1.1 s at a 100 ms interval, want >= 5", n)
	}
	return nil
}

func checkOneway(ctx context.Context, e *env) error {
	c, err := e.dial(client.DefaultOption)
	if err != nil {
		return err
	}
	defer c.Close()
	mctx := e.meta(ctx, nil, nil)
	// A nil reply makes the Go client send a oneway request.
	c.Go(mctx, api.ArithService, "Mul", &api.Args{A: 2, B: 3}, nil, nil)
	c.Go(mctx, api.ArithService, "NoSuchMethod", &api.Args{A: 2, B: 3}, nil, nil)
	c.Go(mctx, "NoSuchService", "Mul", &api.Args{A: 2, B: 3}, nil, nil)
	xc, err := e.xclient(api.ArithService, client.DefaultOption)
	if err != nil {
		return err
	}
	defer xc.Close()
	if err := xc.Oneshot(ctx, "Mul", &api.Args{A: 4, B: 5}); err != nil {
		return fmt.Errorf("XClient.Oneshot: %w", err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := mul(mctx, c.Call, 6, 7); err != nil {
		return fmt.Errorf("after oneway requests: %w", err)
	}
	call := func(ctx context.Context, _, method string, args, reply any) error {
		return xc.Call(ctx, method, args, reply)
	}
	if err := mul(ctx, call, 8, 9); err != nil {
		return fmt.Errorf("XClient after Oneshot: %w", err)
	}
	if c.IsShutdown() {
		return errors.New("the connection was closed")
	}
	return nil
}

func checkOnewayRaw(ctx context.Context, e *env) error {
	rc, err := e.rawDial(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	args, _ := codec.MsgpackCodec{}.Encode(&api.Args{A: 6, B: 7})
	frames := [][]byte{
		e.newRaw(100, protocol.MsgPack, api.ArithService, "Mul", args, true).Encode(),
		e.newRaw(101, protocol.MsgPack, api.ArithService, "NoSuchMethod", args, true).Encode(),
		e.newRaw(102, protocol.MsgPack, "NoSuchService", "Mul", args, true).Encode(),
		e.newRaw(103, protocol.MsgPack, api.ArithService, "Mul", args, false).Encode(),
	}
	if err := rc.write(frames...); err != nil {
		return err
	}
	_, m, err := rc.readFrame(3 * time.Second)
	if err != nil {
		return fmt.Errorf("reading the reply to seq 103: %v", err)
	}
	if m.Seq() != 103 {
		return fmt.Errorf("first frame after three oneway requests has seq %d (status %d, error %q), want 103",
			m.Seq(), m.MessageStatusType(), m.Metadata[protocol.ServiceError])
	}
	var r api.Reply
	if err := (codec.MsgpackCodec{}).Decode(m.Payload, &r); err != nil || r.C != 42 {
		return fmt.Errorf("reply to seq 103: C=%d err=%v", r.C, err)
	}
	if _, m, err := rc.readFrame(300 * time.Millisecond); err == nil {
		return fmt.Errorf("unexpected frame seq %d after the reply", m.Seq())
	}
	return nil
}

func checkUnknownService(ctx context.Context, e *env) error {
	xc, err := e.xclient("Nope", client.DefaultOption)
	if err != nil {
		return err
	}
	defer xc.Close()
	var r api.Reply
	err = xc.Call(ctx, "Mul", &api.Args{A: 1, B: 2}, &r)
	return wantServiceError(err, "rpcx: can't find service Nope")
}

func checkUnknownMethod(ctx context.Context, e *env) error {
	xc, err := e.xclient(api.ArithService, client.DefaultOption)
	if err != nil {
		return err
	}
	defer xc.Close()
	var r api.Reply
	err = xc.Call(ctx, "Div", &api.Args{A: 1, B: 2}, &r)
	if err := wantServiceError(err, "rpcx: can't find method Div"); err != nil {
		return err
	}
	c, err := e.dial(option(protocol.JSON))
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Call(e.meta(ctx, nil, nil), api.ArithService, "mul", &api.Args{A: 1, B: 2}, &r)
	return wantServiceError(err, "rpcx: can't find method mul")
}

func checkServiceError(ctx context.Context, e *env) error {
	c, err := e.dial(option(protocol.JSON))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = e.meta(ctx, nil, nil)
	args := api.Args{A: 3, B: 4}
	var r api.Reply
	err = c.Call(ctx, api.TestService, "Fail", &args, &r)
	if err := wantServiceError(err, api.FailText(args)); err != nil {
		return err
	}
	if err := mul(ctx, c.Call, 5, 6); err != nil {
		return fmt.Errorf("after a service error on the same connection: %w", err)
	}
	return nil
}

func checkOutOfOrder(ctx context.Context, e *env) error {
	c, err := e.dial(option(protocol.JSON))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = e.meta(ctx, nil, nil)
	var slowReply api.SleepArgs
	slow := c.Go(ctx, api.TestService, "Sleep", &api.SleepArgs{Ms: 600}, &slowReply, make(chan *client.Call, 1))
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := mul(ctx, c.Call, 11, 12); err != nil {
		return err
	}
	if took := time.Since(start); took > 400*time.Millisecond {
		return fmt.Errorf("Arith.Mul took %v behind a 600 ms Test.Sleep on the same connection", took)
	}
	select {
	case <-slow.Done:
		return errors.New("Test.Sleep(600 ms) finished before the fast call")
	default:
	}
	select {
	case call := <-slow.Done:
		if call.Error != nil {
			return fmt.Errorf("Test.Sleep: %w", call.Error)
		}
		if slowReply.Ms != 600 {
			return fmt.Errorf("Test.Sleep returned Ms=%d", slowReply.Ms)
		}
	case <-time.After(3 * time.Second):
		return errors.New("Test.Sleep(600 ms) did not return within 3 s")
	}
	return nil
}

func checkLargePayload(ctx context.Context, e *env) error {
	c, err := e.dial(option(protocol.SerializeNone))
	if err != nil {
		return err
	}
	defer c.Close()
	p := randomBytes(4<<20, 42)
	var out []byte
	if err := c.Call(e.meta(ctx, nil, nil), api.EchoService, "Echo", p, &out); err != nil {
		return fmt.Errorf("Echo.Echo(4 MiB): %w", err)
	}
	if !bytes.Equal(out, p) {
		return fmt.Errorf("Echo.Echo(4 MiB) returned %d bytes, differing", len(out))
	}
	return nil
}

func checkServerPush(ctx context.Context, e *env) error {
	d, err := client.NewPeer2PeerDiscovery(e.network+"@"+e.addr, "")
	if err != nil {
		return err
	}
	ch := make(chan *protocol.Message, 16)
	xc := client.NewBidirectionalXClient(api.TestService, client.Failfast, client.RandomSelect, d, client.DefaultOption, ch)
	if e.token != "" {
		xc.Auth(e.token)
	}
	defer xc.Close()
	const count, payload = 3, "push payload"
	var r api.Reply
	if err := xc.Call(ctx, "Push", &api.PushArgs{Count: count, Payload: payload}, &r); err != nil {
		return fmt.Errorf("Test.Push: %w", err)
	}
	if r.C != count {
		return fmt.Errorf("Test.Push returned C=%d, want %d", r.C, count)
	}
	var lastSeq uint64
	for i := 0; i < count; i++ {
		select {
		case m := <-ch:
			switch {
			case m.MessageType() != protocol.Request || !m.IsOneway() || m.IsHeartbeat():
				return fmt.Errorf("push %d: type %d oneway %v heartbeat %v status %d (%v)", i, m.MessageType(), m.IsOneway(), m.IsHeartbeat(), m.MessageStatusType(), m.Metadata)
			case m.ServicePath != api.TestService || m.ServiceMethod != "Push":
				return fmt.Errorf("push %d: %s.%s", i, m.ServicePath, m.ServiceMethod)
			case m.Metadata[api.PushMetaKey] != strconv.Itoa(i):
				return fmt.Errorf("push %d: metadata %v", i, m.Metadata)
			case string(m.Payload) != payload:
				return fmt.Errorf("push %d: payload %q", i, m.Payload)
			case i > 0 && m.Seq() <= lastSeq:
				return fmt.Errorf("push %d: seq %d after %d", i, m.Seq(), lastSeq)
			}
			lastSeq = m.Seq()
		case <-time.After(3 * time.Second):
			return fmt.Errorf("received %d of %d pushes", i, count)
		}
	}
	// The connection still works after the pushes.
	call := func(ctx context.Context, _, method string, args, reply any) error {
		return xc.Call(ctx, method, args, reply)
	}
	var sr api.SleepArgs
	if err := call(ctx, api.TestService, "Sleep", &api.SleepArgs{Ms: 1}, &sr); err != nil || sr.Ms != 1 {
		return fmt.Errorf("Test.Sleep after the pushes: Ms=%d err=%v", sr.Ms, err)
	}
	select {
	case m := <-ch:
		return fmt.Errorf("unexpected extra server message seq %d %s.%s %v", m.Seq(), m.ServicePath, m.ServiceMethod, m.Metadata)
	default:
	}
	return nil
}

// checkGoldenReplies sends every request of the golden vectors on one raw
// connection, pipelined, and compares each reply with its response vector.
func checkGoldenReplies(ctx context.Context, e *env) error {
	vs, pairs, err := vectors.Build()
	if err != nil {
		return err
	}
	byName := map[string]vectors.Vector{}
	for _, v := range vs {
		byName[v.Name] = v
	}
	type expect struct {
		name  string
		frame []byte
		msg   *protocol.Message
	}
	want := map[uint64]expect{}
	var oneway []uint64
	var out [][]byte
	for _, p := range pairs {
		req, err := protocol.Read(bytes.NewReader(byName[p.Request].Frame))
		if err != nil {
			return fmt.Errorf("%s: %v", p.Request, err)
		}
		e.authorize(req)
		out = append(out, req.Encode())
		if p.Response == "" {
			oneway = append(oneway, req.Seq())
			continue
		}
		res, err := protocol.Read(bytes.NewReader(byName[p.Response].Frame))
		if err != nil {
			return fmt.Errorf("%s: %v", p.Response, err)
		}
		if _, dup := want[req.Seq()]; dup {
			return fmt.Errorf("two golden requests use seq %d", req.Seq())
		}
		want[req.Seq()] = expect{p.Response, byName[p.Response].Frame, res}
	}
	rc, err := e.rawDial(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := rc.write(out...); err != nil {
		return err
	}
	var errs []error
	for n := len(want); n > 0; n-- {
		frame, m, err := rc.readFrame(5 * time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading reply (%d still expected): %v", n, err))
			break
		}
		x, ok := want[m.Seq()]
		if !ok {
			errs = append(errs, fmt.Errorf("unexpected frame seq %d (oneway requests: %v)", m.Seq(), oneway))
			continue
		}
		delete(want, m.Seq())
		if err := sameMessage(m, x.msg); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", x.name, err))
			continue
		}
		// Without auth and gzip the frame must be the same bytes.
		if e.token == "" && m.CompressType() == protocol.None && !bytes.Equal(frame, x.frame) {
			errs = append(errs, fmt.Errorf("%s: frame bytes %s, want %s", x.name, short(frame), short(x.frame)))
		}
	}
	if len(errs) == 0 {
		if _, m, err := rc.readFrame(300 * time.Millisecond); err == nil {
			errs = append(errs, fmt.Errorf("unexpected extra frame seq %d (a oneway request was answered?)", m.Seq()))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func checkConcurrency(ctx context.Context, e *env) error {
	const goroutines, calls, pool = 200, 500, 10
	d, err := client.NewPeer2PeerDiscovery(e.network+"@"+e.addr, "")
	if err != nil {
		return err
	}
	p := client.NewXClientPool(pool, api.ArithService, client.Failfast, client.RoundRobin, d, client.DefaultOption)
	if e.token != "" {
		p.Auth(e.token)
	}
	defer p.Close()
	var ok, bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		xc := p.Get()
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				if ctx.Err() != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("stopped: %v", ctx.Err()))
					return
				}
				a, b := g+1, i-250
				var r api.Reply
				cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := xc.Call(cctx, "Mul", &api.Args{A: a, B: b}, &r)
				cancel()
				switch {
				case err != nil:
					bad.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("Mul(%d, %d): %v", a, b, err))
				case r.C != a*b:
					bad.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("Mul(%d, %d) = %d", a, b, r.C))
				default:
					ok.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := ok.Load(); n != goroutines*calls {
		return fmt.Errorf("%d of %d calls good, %d bad; first error: %v", n, goroutines*calls, bad.Load(), firstErr.Load())
	}
	return nil
}

func checkAuthSuccess(ctx context.Context, e *env) error {
	xc, err := e.xclient(api.ArithService, client.DefaultOption) // XClient.Auth(token)
	if err != nil {
		return err
	}
	defer xc.Close()
	call := func(ctx context.Context, _, method string, args, reply any) error {
		return xc.Call(ctx, method, args, reply)
	}
	if err := mul(ctx, call, 2, 21); err != nil {
		return fmt.Errorf("XClient with the token: %w", err)
	}
	c, err := e.dial(option(protocol.JSON))
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < 3; i++ { // auth runs for every request
		if err := mul(e.meta(ctx, nil, nil), c.Call, 3, i); err != nil {
			return fmt.Errorf("client with __AUTH metadata: %w", err)
		}
	}
	return nil
}

func checkAuthFailure(ctx context.Context, e *env) error {
	for _, token := range []string{"wrong-" + e.token, ""} {
		c, err := e.dial(option(protocol.JSON))
		if err != nil {
			return err
		}
		cctx := ctx
		if token != "" {
			cctx = context.WithValue(ctx, share.ReqMetaDataKey, map[string]string{share.AuthKey: token})
		}
		var r api.Reply
		err = c.Call(cctx, api.ArithService, "Mul", &api.Args{A: 2, B: 3}, &r)
		if err == nil {
			c.Close()
			return fmt.Errorf("token %q accepted", token)
		}
		if !isServiceError(err) || err.Error() == "" {
			c.Close()
			return fmt.Errorf("token %q: error %q (%T) is not a service error reply", token, err, err)
		}
		closed := false
		for i := 0; i < 30 && !closed; i++ {
			closed = c.IsShutdown()
			if !closed {
				time.Sleep(100 * time.Millisecond)
			}
		}
		c.Close()
		if !closed {
			return fmt.Errorf("token %q: the server did not close the connection within 3 s", token)
		}
	}

	// The same on a raw connection: an error reply, then end of stream.
	rc, err := e.rawDial(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	args, _ := codec.JSONCodec{}.Encode(&api.Args{A: 2, B: 3})
	m := e.newRaw(5, protocol.JSON, api.ArithService, "Mul", args, false)
	m.Metadata = map[string]string{share.AuthKey: "wrong-" + e.token}
	if err := rc.write(m.Encode()); err != nil {
		return err
	}
	_, res, err := rc.readFrame(3 * time.Second)
	if err != nil {
		return fmt.Errorf("raw: reading the auth error reply: %v", err)
	}
	if res.Seq() != 5 || res.MessageStatusType() != protocol.Error || res.Metadata[protocol.ServiceError] == "" {
		return fmt.Errorf("raw: reply seq %d status %d metadata %v, want an error reply to seq 5", res.Seq(), res.MessageStatusType(), res.Metadata)
	}
	if _, extra, err := rc.readFrame(3 * time.Second); err == nil {
		return fmt.Errorf("raw: frame seq %d after the auth error, want the connection closed", extra.Seq())
	} else if isTimeout(err) {
		return errors.New("raw: the connection is still open 3 s after the auth error")
	}
	return nil
}
