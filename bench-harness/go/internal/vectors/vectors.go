// Package vectors builds the golden rpcx frames of the project with rpcx-go's
// own protocol and codec packages. Requests are built the way the rpcx-go
// client builds them (client.send), responses the way the rpcx-go server
// derives them from the request (Message.Clone, handleError, sendResponse).
//
// Every vector is deterministic: fixed seqs, at most one metadata key (Go
// encodes metadata from a map, so several keys would come out in random
// order) and fixed payload contents.
package vectors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/api"
	"github.com/ringrpc/ringrpc/bench-harness/go/internal/benchmsg"
	"github.com/smallnest/rpcx/codec"
	"github.com/smallnest/rpcx/protocol"
)

// Vector is one golden frame.
type Vector struct {
	Name        string
	Description string
	Frame       []byte
}

// Pair links a request vector to the response vector an rpcx-go server
// (cmd/rpcxserver) answers it with. Response is empty for a request that
// gets no answer (oneway).
type Pair struct {
	Request  string
	Response string
}

// Description is the JSON document written next to each frame.
type Description struct {
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	MessageType   string            `json:"message_type"`
	Version       int               `json:"version"`
	Heartbeat     bool              `json:"heartbeat"`
	Oneway        bool              `json:"oneway"`
	Compress      int               `json:"compress"`
	Status        int               `json:"status"`
	Serialize     int               `json:"serialize"`
	Seq           uint64            `json:"seq"`
	ServicePath   string            `json:"service_path"`
	ServiceMethod string            `json:"service_method"`
	Metadata      map[string]string `json:"metadata"`
	PayloadHex    *string           `json:"payload_hex,omitempty"`
	PayloadLen    *int              `json:"payload_len,omitempty"`
	PayloadSHA256 string            `json:"payload_sha256,omitempty"`
	WirePayload   int               `json:"wire_payload_len"`
	FrameLen      int               `json:"frame_len"`
}

// LargePayload is the size above which a description carries the length and
// SHA-256 of the payload instead of its hex.
const LargePayload = 4096

// Hex dumps of the worked examples (a)-(d) of the protocol spec (§14); the
// generated vectors must match them.
const (
	specA = `
08 00 00 10 00 00 00 00 00 00 00 01 00 00 00 31
00 00 00 05 41 72 69 74 68 00 00 00 03 4d 75 6c
00 00 00 0a 00 00 00 01 6b 00 00 00 01 76 00 00
00 0f 7b 22 41 22 3a 31 30 2c 22 42 22 3a 32 30
7d`
	specB = `
08 00 80 10 00 00 00 00 00 00 00 01 00 00 00 21
00 00 00 05 41 72 69 74 68 00 00 00 03 4d 75 6c
00 00 00 00 00 00 00 09 7b 22 43 22 3a 32 30 30
7d`
	specC = `
08 00 81 10 00 00 00 00 00 00 00 02 00 00 00 49
00 00 00 05 41 72 69 74 68 00 00 00 03 44 69 76
00 00 00 31 00 00 00 0e 5f 5f 72 70 63 78 5f 65
72 72 6f 72 5f 5f 00 00 00 1b 72 70 63 78 3a 20
63 61 6e 27 74 20 66 69 6e 64 20 6d 65 74 68 6f
64 20 44 69 76 00 00 00 00`
	specDRequest = `
08 00 40 30 00 00 00 00 00 00 00 07 00 00 00 19
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09
d3 17 97 9c fe 36 2a 00 00`
	specDReply = `
08 00 c0 30 00 00 00 00 00 00 00 07 00 00 00 19
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09
d3 17 97 9c fe 36 2a 00 00`
)

// HeartbeatNanos is the int64 carried by the heartbeat vectors.
const HeartbeatNanos int64 = 1700000000000000000

// PatternPayload returns n bytes with byte i = i % 251.
func PatternPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

type builder struct {
	vectors []Vector
	pairs   []Pair
	index   map[string]int
	err     error
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

func (b *builder) add(name, desc string, frame []byte) []byte {
	if _, dup := b.index[name]; dup {
		b.fail("duplicate vector %s", name)
	}
	b.index[name] = len(b.vectors)
	b.vectors = append(b.vectors, Vector{Name: name, Description: desc, Frame: frame})
	return frame
}

// request builds a request the way client.send does. A nil reply makes it
// oneway.
func request(seq uint64, st protocol.SerializeType, path, method string, meta map[string]string, payload []byte, ct protocol.CompressType, oneway bool) *protocol.Message {
	req := protocol.NewMessage()
	req.SetMessageType(protocol.Request)
	req.SetSeq(seq)
	if oneway {
		req.SetOneway(true)
	}
	req.SetSerializeType(st)
	if meta != nil {
		req.Metadata = meta
	}
	req.ServicePath = path
	req.ServiceMethod = method
	if len(payload) > 1024 && ct != protocol.None {
		req.SetCompressType(ct)
	}
	req.Payload = payload
	return req
}

// encode encodes m and checks that protocol.Read gives m back.
func (b *builder) encode(name string, m *protocol.Message) []byte {
	frame := append([]byte(nil), m.Encode()...)
	if err := selfCheck(frame, m); err != nil {
		b.fail("%s: %v", name, err)
	}
	return frame
}

func selfCheck(frame []byte, want *protocol.Message) error {
	if len(frame) < 16 {
		return fmt.Errorf("frame too short")
	}
	if l := binary.BigEndian.Uint32(frame[12:16]); int(l)+16 != len(frame) {
		return fmt.Errorf("length word %d does not match frame length %d", l, len(frame))
	}
	got, err := protocol.Read(bytes.NewReader(frame))
	if err != nil {
		return fmt.Errorf("protocol.Read: %v", err)
	}
	if *got.Header != *want.Header {
		return fmt.Errorf("header % x, want % x", got.Header[:], want.Header[:])
	}
	if got.ServicePath != want.ServicePath || got.ServiceMethod != want.ServiceMethod {
		return fmt.Errorf("path/method %s.%s, want %s.%s", got.ServicePath, got.ServiceMethod, want.ServicePath, want.ServiceMethod)
	}
	if len(got.Metadata) != len(want.Metadata) || (len(want.Metadata) > 0 && !maps.Equal(got.Metadata, want.Metadata)) {
		return fmt.Errorf("metadata %v, want %v", got.Metadata, want.Metadata)
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		return fmt.Errorf("payload differs after decode (%d bytes, want %d)", len(got.Payload), len(want.Payload))
	}
	return nil
}

// decode reads a frame produced earlier by this package.
func decode(frame []byte) (*protocol.Message, error) {
	return protocol.Read(bytes.NewReader(frame))
}

// response derives a server response from a request frame the way the
// rpcx-go server does: Clone (header copied, compress cleared, path and
// method echoed, metadata empty), type bit set, error status and
// __rpcx_error__ on failure, the handler's response metadata merged in,
// and gzip only when the request was compressed and the payload > 1024.
func (b *builder) response(name string, reqFrame []byte, payload []byte, resMeta map[string]string, errText string) []byte {
	req, err := decode(reqFrame)
	if err != nil {
		b.fail("%s: decoding its request: %v", name, err)
		return nil
	}
	res := req.Clone()
	res.SetMessageType(protocol.Response)
	if errText != "" {
		res.SetMessageStatusType(protocol.Error)
		res.Metadata = map[string]string{protocol.ServiceError: errText}
	}
	res.Payload = payload
	if len(resMeta) > 0 {
		if res.Metadata == nil {
			res.Metadata = resMeta
		} else {
			for k, v := range resMeta {
				if res.Metadata[k] == "" {
					res.Metadata[k] = v
				}
			}
		}
	}
	if len(res.Payload) > 1024 && req.CompressType() != protocol.None {
		res.SetCompressType(req.CompressType())
	}
	return b.encode(name, res)
}

func mustEncode(b *builder, c codec.Codec, v any) []byte {
	data, err := c.Encode(v)
	if err != nil {
		b.fail("encode %T: %v", v, err)
	}
	return append([]byte(nil), data...)
}

func specBytes(s string) []byte {
	h := strings.Join(strings.Fields(s), "")
	out, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return out
}

func (b *builder) mustEqualSpec(name, example string, got []byte, spec string) {
	want := specBytes(spec)
	if !bytes.Equal(got, want) {
		b.fail("%s differs from the worked example %s:\n got  % x\n want % x", name, example, got, want)
	}
}

// Build returns all vectors and the request/response pairs among them.
func Build() ([]Vector, []Pair, error) {
	b := &builder{index: map[string]int{}}
	jsonc := codec.JSONCodec{}
	msgp := codec.MsgpackCodec{}
	pbc := codec.PBCodec{}

	// §14 (a)-(c).
	a := b.add("spec_a_request_json",
		"worked example (a): request Arith.Mul, JSON {\"A\":10,\"B\":20}, seq 1, metadata k=v",
		b.encode("spec_a_request_json", request(1, protocol.JSON, api.ArithService, "Mul",
			map[string]string{"k": "v"}, mustEncode(b, jsonc, api.Args{A: 10, B: 20}), protocol.None, false)))
	b.mustEqualSpec("spec_a_request_json", "(a)", a, specA)

	bb := b.add("spec_b_response_json",
		"worked example (b): successful response to (a), JSON {\"C\":200}, no metadata",
		b.response("spec_b_response_json", a, mustEncode(b, jsonc, api.Reply{C: 200}), nil, ""))
	b.mustEqualSpec("spec_b_response_json", "(b)", bb, specB)
	b.pairs = append(b.pairs, Pair{"spec_a_request_json", "spec_b_response_json"})

	cReq := b.add("spec_c_request_json_div",
		"request of worked example (c): (a) with method Div and seq 2 (Arith has no Div)",
		b.encode("spec_c_request_json_div", request(2, protocol.JSON, api.ArithService, "Div",
			map[string]string{"k": "v"}, mustEncode(b, jsonc, api.Args{A: 10, B: 20}), protocol.None, false)))
	c := b.add("spec_c_error_unknown_method",
		"worked example (c): error response, status Error, __rpcx_error__ = \"rpcx: can't find method Div\", empty payload",
		b.response("spec_c_error_unknown_method", cReq, nil, nil, "rpcx: can't find method Div"))
	b.mustEqualSpec("spec_c_error_unknown_method", "(c)", c, specC)
	b.pairs = append(b.pairs, Pair{"spec_c_request_json_div", "spec_c_error_unknown_method"})

	// §14 (d): the heartbeat of the Go client (client.heartbeat calls path "",
	// method "" with a *int64 of nanoseconds; client.send forces MsgPack and
	// the heartbeat bit), and the server's echo (processOneRequest sets the
	// response bit on the decoded request and re-encodes it).
	hbNanos := HeartbeatNanos
	hb := request(7, protocol.MsgPack, "", "", nil, mustEncode(b, msgp, &hbNanos), protocol.None, false)
	hb.SetHeartbeat(true)
	d := b.add("spec_d_heartbeat_request",
		"worked example (d): heartbeat request of the Go client, seq 7, MsgPack int64 1700000000000000000 (d3 + 8 bytes), empty path/method",
		b.encode("spec_d_heartbeat_request", hb))
	b.mustEqualSpec("spec_d_heartbeat_request", "(d) request", d, specDRequest)
	if echo, err := decode(d); err != nil {
		b.fail("spec_d_heartbeat_reply: %v", err)
	} else {
		echo.SetMessageType(protocol.Response)
		dr := b.add("spec_d_heartbeat_reply",
			"worked example (d): the server's heartbeat echo, identical to the request except byte 2 = 0xc0",
			b.encode("spec_d_heartbeat_reply", echo))
		b.mustEqualSpec("spec_d_heartbeat_reply", "(d) reply", dr, specDReply)
	}
	b.pairs = append(b.pairs, Pair{"spec_d_heartbeat_request", "spec_d_heartbeat_reply"})

	// One request/response per serialize type.
	rawPayload := []byte("hello, rpcx raw payload")
	rn := b.add("request_none",
		"Echo.Echo request, SerializeNone (raw bytes \"hello, rpcx raw payload\"), seq 10, no metadata",
		b.encode("request_none", request(10, protocol.SerializeNone, api.EchoService, "Echo", nil, rawPayload, protocol.None, false)))
	b.add("response_none",
		"Echo.Echo response, SerializeNone, the request payload echoed, seq 10",
		b.response("response_none", rn, rawPayload, nil, ""))
	b.pairs = append(b.pairs, Pair{"request_none", "response_none"})

	rj := b.add("request_json",
		"Arith.Mul request, JSON {\"A\":7,\"B\":6} (rpcx JSONCodec on a Go struct), seq 11, no metadata",
		b.encode("request_json", request(11, protocol.JSON, api.ArithService, "Mul", nil,
			mustEncode(b, jsonc, api.Args{A: 7, B: 6}), protocol.None, false)))
	b.add("response_json",
		"Arith.Mul response, JSON {\"C\":42}, seq 11",
		b.response("response_json", rj, mustEncode(b, jsonc, api.Reply{C: 42}), nil, ""))
	b.pairs = append(b.pairs, Pair{"request_json", "response_json"})

	benchReq, benchReply, err := benchmsg.Encoded()
	if err != nil {
		b.fail("%v", err)
	}
	if enc := mustEncode(b, pbc, benchmsg.NewRequest()); !bytes.Equal(enc, benchReq) {
		b.fail("rpcx PBCodec and proto.Marshal disagree on the benchmark request")
	}
	rp := b.add("bench_request_protobuf",
		"Hello.Say request, protobuf BenchmarkMessage of the benchmark workload (581-byte payload), seq 12, no metadata",
		b.encode("bench_request_protobuf", request(12, protocol.ProtoBuffer, api.HelloService, "Say", nil, benchReq, protocol.None, false)))
	if len(rp) != 16+4+5+4+3+4+4+benchmsg.RequestSize {
		b.fail("bench_request_protobuf is %d bytes", len(rp))
	}
	b.add("bench_reply_protobuf",
		"Hello.Say response, protobuf BenchmarkMessage with field1=\"OK\", field2=100 (527-byte payload), seq 12",
		b.response("bench_reply_protobuf", rp, benchReply, nil, ""))
	b.pairs = append(b.pairs, Pair{"bench_request_protobuf", "bench_reply_protobuf"})

	rm := b.add("request_msgpack",
		"Arith.Mul request, MsgPack {\"A\":7,\"B\":6} as a map keyed by Go field names (rpcx MsgpackCodec); Go int fields are written as compact ints (07, 06), only int64 uses d3 + 8 bytes, seq 13",
		b.encode("request_msgpack", request(13, protocol.MsgPack, api.ArithService, "Mul", nil,
			mustEncode(b, msgp, &api.Args{A: 7, B: 6}), protocol.None, false)))
	b.add("response_msgpack",
		"Arith.Mul response, MsgPack {\"C\":42}, seq 13",
		b.response("response_msgpack", rm, mustEncode(b, msgp, &api.Reply{C: 42}), nil, ""))
	b.pairs = append(b.pairs, Pair{"request_msgpack", "response_msgpack"})

	// Metadata.
	rmeta := b.add("request_metadata_one_key",
		"Test.Meta request, JSON {\"A\":1,\"B\":2}, seq 20, metadata trace=abc123",
		b.encode("request_metadata_one_key", request(20, protocol.JSON, api.TestService, "Meta",
			map[string]string{"trace": "abc123"}, mustEncode(b, jsonc, api.Args{A: 1, B: 2}), protocol.None, false)))
	b.add("response_metadata_one_key",
		"Test.Meta response, JSON {\"C\":1}, seq 20, response metadata trace=abc123 (the handler copies request metadata into the response metadata)",
		b.response("response_metadata_one_key", rmeta, mustEncode(b, jsonc, api.Reply{C: 1}), map[string]string{"trace": "abc123"}, ""))
	b.pairs = append(b.pairs, Pair{"request_metadata_one_key", "response_metadata_one_key"})

	b.add("request_metadata_empty_strings",
		"Arith.Add request, JSON {\"A\":1,\"B\":2}, seq 21, metadata with an empty key and an empty value (section length 8)",
		b.encode("request_metadata_empty_strings", request(21, protocol.JSON, api.ArithService, "Add",
			map[string]string{"": ""}, mustEncode(b, jsonc, api.Args{A: 1, B: 2}), protocol.None, false)))

	// Gzip on and off.
	zp := PatternPayload(2048)
	rz := b.add("request_gzip_raw",
		"Echo.Echo request, SerializeNone, compress Gzip (rpcx's gzip encoder), 2048-byte payload byte i = i%251, seq 30; payload_hex is the decompressed payload",
		b.encode("request_gzip_raw", request(30, protocol.SerializeNone, api.EchoService, "Echo", nil, zp, protocol.Gzip, false)))
	if req, err := decode(rz); err != nil || req.CompressType() != protocol.Gzip {
		b.fail("request_gzip_raw is not gzip compressed")
	}
	b.add("response_gzip_raw",
		"Echo.Echo response to request_gzip_raw: compressed again (request compressed and payload > 1024), seq 30",
		b.response("response_gzip_raw", rz, zp, nil, ""))
	b.pairs = append(b.pairs, Pair{"request_gzip_raw", "response_gzip_raw"})

	rzo := b.add("request_gzip_off_raw",
		"Echo.Echo request, SerializeNone, same 2048-byte payload without compression, seq 31",
		b.encode("request_gzip_off_raw", request(31, protocol.SerializeNone, api.EchoService, "Echo", nil, zp, protocol.None, false)))
	b.add("response_gzip_off_raw",
		"Echo.Echo response to request_gzip_off_raw: uncompressed, seq 31",
		b.response("response_gzip_off_raw", rzo, zp, nil, ""))
	b.pairs = append(b.pairs, Pair{"request_gzip_off_raw", "response_gzip_off_raw"})

	// Oneway and server push.
	b.add("request_oneway_msgpack",
		"Arith.Mul oneway request (the Go client's Go() with a nil reply / XClient.Oneshot), MsgPack {\"A\":7,\"B\":6}, seq 40; the server sends nothing back",
		b.encode("request_oneway_msgpack", request(40, protocol.MsgPack, api.ArithService, "Mul", nil,
			mustEncode(b, msgp, &api.Args{A: 7, B: 6}), protocol.None, true)))
	b.pairs = append(b.pairs, Pair{"request_oneway_msgpack", ""})

	push := protocol.NewMessage() // as Server.SendMessage builds it
	push.SetMessageType(protocol.Request)
	push.SetSeq(1)
	push.SetOneway(true)
	push.SetSerializeType(protocol.SerializeNone)
	push.ServicePath = api.TestService
	push.ServiceMethod = "Push"
	push.Metadata = map[string]string{api.PushMetaKey: "0"}
	push.Payload = []byte("push payload")
	b.add("server_push",
		"server-initiated message (Server.SendMessage): type Request, oneway, SerializeNone, seq 1 (server-global counter), Test.Push, metadata n=0, payload \"push payload\"",
		b.encode("server_push", push))

	// Errors.
	ru := b.add("request_unknown_service",
		"request to a service that does not exist: Nope.Mul, JSON {\"A\":1,\"B\":2}, seq 50",
		b.encode("request_unknown_service", request(50, protocol.JSON, "Nope", "Mul", nil,
			mustEncode(b, jsonc, api.Args{A: 1, B: 2}), protocol.None, false)))
	b.add("error_unknown_service",
		"error response to request_unknown_service: __rpcx_error__ = \"rpcx: can't find service Nope\", empty payload, seq 50",
		b.response("error_unknown_service", ru, nil, nil, "rpcx: can't find service Nope"))
	b.pairs = append(b.pairs, Pair{"request_unknown_service", "error_unknown_service"})

	failArgs := api.Args{A: 3, B: 4}
	rf := b.add("request_test_fail",
		"Test.Fail request, JSON {\"A\":3,\"B\":4}, seq 51",
		b.encode("request_test_fail", request(51, protocol.JSON, api.TestService, "Fail", nil,
			mustEncode(b, jsonc, failArgs), protocol.None, false)))
	b.add("error_method_failed",
		"error response of a method that returned an error: __rpcx_error__ = \"test failure: A=3 B=4\"; rpcx-go still encodes the (zero) reply as payload: {\"C\":0}, seq 51",
		b.response("error_method_failed", rf, mustEncode(b, jsonc, &api.Reply{}), nil, api.FailText(failArgs)))
	b.pairs = append(b.pairs, Pair{"request_test_fail", "error_method_failed"})

	// Empty payload and a large payload.
	re := b.add("request_empty_payload",
		"Echo.Echo request, SerializeNone, empty payload (payload length word 0), seq 60",
		b.encode("request_empty_payload", request(60, protocol.SerializeNone, api.EchoService, "Echo", nil, []byte{}, protocol.None, false)))
	b.add("response_empty_payload",
		"Echo.Echo response with an empty payload, seq 60",
		b.response("response_empty_payload", re, []byte{}, nil, ""))
	b.pairs = append(b.pairs, Pair{"request_empty_payload", "response_empty_payload"})

	b.add("request_raw_1mib",
		"Echo.Echo request, SerializeNone, 1 MiB payload byte i = i%251, uncompressed, seq 70",
		b.encode("request_raw_1mib", request(70, protocol.SerializeNone, api.EchoService, "Echo", nil, PatternPayload(1<<20), protocol.None, false)))

	if b.err != nil {
		return nil, nil, b.err
	}
	return b.vectors, b.pairs, nil
}

// Describe decodes a frame and returns its JSON description.
func Describe(v Vector) ([]byte, error) {
	m, err := decode(v.Frame)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", v.Name, err)
	}
	d := Description{
		Name:          v.Name,
		Description:   v.Description,
		MessageType:   "request",
		Version:       int(m.Version()),
		Heartbeat:     m.IsHeartbeat(),
		Oneway:        m.IsOneway(),
		Compress:      int(m.CompressType()),
		Status:        int(m.MessageStatusType()),
		Serialize:     int(m.SerializeType()),
		Seq:           m.Seq(),
		ServicePath:   m.ServicePath,
		ServiceMethod: m.ServiceMethod,
		Metadata:      map[string]string{},
		WirePayload:   WirePayloadLen(v.Frame),
		FrameLen:      len(v.Frame),
	}
	if m.MessageType() == protocol.Response {
		d.MessageType = "response"
	}
	maps.Copy(d.Metadata, m.Metadata)
	if len(m.Payload) > LargePayload {
		n := len(m.Payload)
		sum := sha256.Sum256(m.Payload)
		d.PayloadLen = &n
		d.PayloadSHA256 = hex.EncodeToString(sum[:])
	} else {
		h := hex.EncodeToString(m.Payload)
		d.PayloadHex = &h
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// WirePayloadLen returns the payload length word of a well-formed frame.
func WirePayloadLen(frame []byte) int {
	n := 16
	for i := 0; i < 3; i++ {
		n += 4 + int(binary.BigEndian.Uint32(frame[n:n+4]))
	}
	return int(binary.BigEndian.Uint32(frame[n : n+4]))
}

// Files returns every file of the vector directory: NAME.bin and NAME.json.
func Files() (map[string][]byte, error) {
	vs, _, err := Build()
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, 2*len(vs))
	for _, v := range vs {
		desc, err := Describe(v)
		if err != nil {
			return nil, err
		}
		files[v.Name+".bin"] = v.Frame
		files[v.Name+".json"] = desc
	}
	return files, nil
}
