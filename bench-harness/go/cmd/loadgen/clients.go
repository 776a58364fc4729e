package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/benchmsg"
	pb "github.com/ringrpc/ringrpc/bench-harness/go/proto"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// syncCall makes one synchronous call and says whether the reply was good.
// Each worker owns one, with its own reply value.
type syncCall func() (good bool, err error)

// connection is one TCP connection of one framework's client.
type connection interface {
	newSyncCall() syncCall
	close()
}

// workload is what travels: the request and the check of a reply.
type workload struct {
	servicePath, serviceMethod string
	request                    *pb.BenchmarkMessage // benchmark-message
	payload                    []byte               // echo-raw
}

func newWorkload(cfg *config) workload {
	if cfg.workload == "echo-raw" {
		payload := make([]byte, cfg.payloadLen)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		return workload{servicePath: api.EchoService, serviceMethod: "Echo", payload: payload}
	}
	return workload{servicePath: api.HelloService, serviceMethod: "Say", request: benchmsg.NewRequest()}
}

func dial(cfg *config, w workload) (connection, error) {
	if cfg.client == "grpc" {
		return dialGRPC(cfg.addr, w, cfg.tls)
	}
	return dialRPCX(cfg.addr, w, cfg.tls)
}

// rpcxConn is one rpcx-go client.Client: one TCP connection, multiplexed.
type rpcxConn struct {
	c *client.Client
	w workload
}

func dialRPCX(addr string, w workload, tlsConfig *tls.Config) (*rpcxConn, error) {
	opt := client.DefaultOption
	opt.TLSConfig = tlsConfig
	opt.SerializeType = protocol.ProtoBuffer
	if w.request == nil {
		opt.SerializeType = protocol.SerializeNone
	}
	c := client.NewClient(opt)
	if err := c.Connect("tcp", addr); err != nil {
		return nil, fmt.Errorf("rpcx connect %s: %w", addr, err)
	}
	return &rpcxConn{c: c, w: w}, nil
}

func (r *rpcxConn) close() { _ = r.c.Close() }

// args and newReply give what client.Call/Go take for the workload.
func (r *rpcxConn) args() any {
	if r.w.request != nil {
		return r.w.request
	}
	return r.w.payload
}

func (r *rpcxConn) newReply() any {
	if r.w.request != nil {
		return new(pb.BenchmarkMessage)
	}
	return new([]byte)
}

func (r *rpcxConn) good(reply any) bool {
	switch v := reply.(type) {
	case *pb.BenchmarkMessage:
		return benchmsg.IsGoodReply(v)
	case *[]byte:
		return bytes.Equal(*v, r.w.payload)
	}
	return false
}

func (r *rpcxConn) newSyncCall() syncCall {
	ctx := context.Background()
	args := r.args()
	return func() (bool, error) {
		reply := r.newReply()
		if err := r.c.Call(ctx, r.w.servicePath, r.w.serviceMethod, args, reply); err != nil {
			return false, err
		}
		return r.good(reply), nil
	}
}

// window keeps depth asynchronous calls outstanding on this connection until
// the window ends, then waits for the outstanding ones (until drained closes).
func (r *rpcxConn) window(depth int, rec *recorder, drained <-chan struct{}) {
	ctx := context.Background()
	args := r.args()
	done := make(chan *client.Call, depth)
	sentAt := make(map[*client.Call]int64, depth)
	issue := func() {
		at := rec.clock.now()
		rec.issued(at)
		sentAt[r.c.Go(ctx, r.w.servicePath, r.w.serviceMethod, args, r.newReply(), done)] = at
	}
	for range depth {
		issue()
	}
	for len(sentAt) > 0 {
		select {
		case call := <-done:
			at := sentAt[call]
			delete(sentAt, call)
			rec.finished(at, call.Error == nil && r.good(call.Reply), call.Error)
			if rec.running() {
				issue()
			}
		case <-drained:
			return
		}
	}
}

// grpcConn is one grpc-go ClientConn: one HTTP/2 connection.
type grpcConn struct {
	cc      *grpc.ClientConn
	hello   pb.HelloClient
	request *pb.BenchmarkMessage
}

func dialGRPC(addr string, w workload, tlsConfig *tls.Config) (*grpcConn, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc.Connect()
	for state := cc.GetState(); state != connectivity.Ready; state = cc.GetState() {
		if !cc.WaitForStateChange(ctx, state) {
			_ = cc.Close()
			return nil, fmt.Errorf("grpc connect %s: still %v", addr, state)
		}
	}
	return &grpcConn{cc: cc, hello: pb.NewHelloClient(cc), request: w.request}, nil
}

func (g *grpcConn) close() { _ = g.cc.Close() }

func (g *grpcConn) newSyncCall() syncCall {
	ctx := context.Background()
	return func() (bool, error) {
		reply, err := g.hello.Say(ctx, g.request)
		if err != nil {
			return false, err
		}
		return benchmsg.IsGoodReply(reply), nil
	}
}
