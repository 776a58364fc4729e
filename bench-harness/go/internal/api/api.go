// Package api holds the argument and reply types of the test services that
// cmd/rpcxserver registers and cmd/interop calls. A compatible server must
// accept and produce the same shapes: struct fields travel under their Go
// names (JSON object keys, MessagePack map keys).
package api

import "fmt"

// Args is the argument of Arith.Mul, Arith.Add and Test.Fail: {"A":int,"B":int}.
type Args struct {
	A int
	B int
}

// Reply is the reply of Arith.Mul, Arith.Add, Test.Meta and Test.Push: {"C":int}.
type Reply struct {
	C int
}

// SleepArgs is the argument and the reply of Test.Sleep: {"Ms":int}.
type SleepArgs struct {
	Ms int
}

// PushArgs is the argument of Test.Push: {"Count":int,"Payload":string}.
type PushArgs struct {
	Count   int
	Payload string
}

// Service paths and methods.
const (
	ArithService = "Arith"
	HelloService = "Hello"
	EchoService  = "Echo"
	TestService  = "Test"
)

// FailText is the exact error text Test.Fail returns for args.
func FailText(args Args) string {
	return fmt.Sprintf("test failure: A=%d B=%d", args.A, args.B)
}

// PushMetaKey is the metadata key of every message Test.Push sends; its value
// is the decimal index of the message, starting at 0.
const PushMetaKey = "n"

// AuthErrorText is the error text cmd/rpcxserver answers a request whose
// __AUTH token is wrong or missing with (the connection is closed afterwards).
const AuthErrorText = "auth: invalid token"
