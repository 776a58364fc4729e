// Package benchmsg builds the BenchmarkMessage workload of the rpcx community
// benchmark: the request a client sends and the transformation a server
// applies before replying.
package benchmsg

import (
	"fmt"

	pb "github.com/ringrpc/ringrpc/bench-harness/go/proto"
	"google.golang.org/protobuf/proto"
)

// Text is the value of every string field of a request: 18 characters,
// 54 bytes of UTF-8.
const Text = "许多往事在眼前一幕一幕，变的那麼模糊"

const (
	// IntValue is the value of every integer field of a request.
	IntValue = 100000
	// RequestSize is the encoded size of NewRequest().
	RequestSize = 581
	// ReplySize is the encoded size of a request after Handle.
	ReplySize = 527
	// ReplyField1 and ReplyField2 are what a server sets before replying.
	ReplyField1 = "OK"
	ReplyField2 = 100
)

// NewRequest returns the benchmark request: every string field = Text, every
// integer = 100000, every bool = true, field5 empty.
func NewRequest() *pb.BenchmarkMessage {
	s := func() *string { v := Text; return &v }
	i32 := func() *int32 { v := int32(IntValue); return &v }
	b := func() *bool { v := true; return &v }
	i64 := int64(IntValue)
	return &pb.BenchmarkMessage{
		Field1:   s(),
		Field9:   s(),
		Field18:  s(),
		Field80:  b(),
		Field81:  b(),
		Field2:   i32(),
		Field3:   i32(),
		Field280: i32(),
		Field6:   i32(),
		Field22:  &i64,
		Field4:   s(),
		Field59:  b(),
		Field7:   s(),
		Field16:  i32(),
		Field130: i32(),
		Field12:  b(),
		Field17:  b(),
		Field13:  b(),
		Field14:  b(),
		Field104: i32(),
		Field100: i32(),
		Field101: i32(),
		Field102: s(),
		Field103: s(),
		Field29:  i32(),
		Field30:  b(),
		Field60:  i32(),
		Field271: i32(),
		Field272: i32(),
		Field150: i32(),
		Field23:  i32(),
		Field24:  b(),
		Field25:  i32(),
		Field78:  b(),
		Field67:  i32(),
		Field68:  i32(),
		Field128: i32(),
		Field129: s(),
		Field131: i32(),
	}
}

// Handle applies the server side of the workload to a decoded request:
// field1 = "OK", field2 = 100.
func Handle(m *pb.BenchmarkMessage) {
	f1 := ReplyField1
	f2 := int32(ReplyField2)
	m.Field1 = &f1
	m.Field2 = &f2
}

// IsGoodReply reports whether a reply counts as a good call.
func IsGoodReply(m *pb.BenchmarkMessage) bool {
	return m != nil && m.GetField1() == ReplyField1
}

// Encoded returns the encoded request and the encoded reply (the request
// decoded, handled and re-encoded), checking both sizes.
func Encoded() (request, reply []byte, err error) {
	request, err = proto.Marshal(NewRequest())
	if err != nil {
		return nil, nil, err
	}
	if len(request) != RequestSize {
		return nil, nil, fmt.Errorf("benchmark request encodes to %d bytes, want %d", len(request), RequestSize)
	}
	var m pb.BenchmarkMessage
	if err := proto.Unmarshal(request, &m); err != nil {
		return nil, nil, err
	}
	Handle(&m)
	reply, err = proto.Marshal(&m)
	if err != nil {
		return nil, nil, err
	}
	if len(reply) != ReplySize {
		return nil, nil, fmt.Errorf("benchmark reply encodes to %d bytes, want %d", len(reply), ReplySize)
	}
	return request, reply, nil
}

// Check verifies the encoded sizes of the request and the reply.
func Check() error {
	_, _, err := Encoded()
	return err
}

// ShallowCopy makes dst refer to every field value of src (pointers and the
// field5 slice are shared, nothing is deep-copied). It lets a reflective
// rpcx handler return its decoded argument as the reply without copying the
// message struct itself, which holds internal state that must not be copied.
func ShallowCopy(dst, src *pb.BenchmarkMessage) {
	dst.Field1 = src.Field1
	dst.Field9 = src.Field9
	dst.Field18 = src.Field18
	dst.Field80 = src.Field80
	dst.Field81 = src.Field81
	dst.Field2 = src.Field2
	dst.Field3 = src.Field3
	dst.Field280 = src.Field280
	dst.Field6 = src.Field6
	dst.Field22 = src.Field22
	dst.Field4 = src.Field4
	dst.Field5 = src.Field5
	dst.Field59 = src.Field59
	dst.Field7 = src.Field7
	dst.Field16 = src.Field16
	dst.Field130 = src.Field130
	dst.Field12 = src.Field12
	dst.Field17 = src.Field17
	dst.Field13 = src.Field13
	dst.Field14 = src.Field14
	dst.Field104 = src.Field104
	dst.Field100 = src.Field100
	dst.Field101 = src.Field101
	dst.Field102 = src.Field102
	dst.Field103 = src.Field103
	dst.Field29 = src.Field29
	dst.Field30 = src.Field30
	dst.Field60 = src.Field60
	dst.Field271 = src.Field271
	dst.Field272 = src.Field272
	dst.Field150 = src.Field150
	dst.Field23 = src.Field23
	dst.Field24 = src.Field24
	dst.Field25 = src.Field25
	dst.Field78 = src.Field78
	dst.Field67 = src.Field67
	dst.Field68 = src.Field68
	dst.Field128 = src.Field128
	dst.Field129 = src.Field129
	dst.Field131 = src.Field131
}
