package main

import (
	"fmt"
	"strings"

	"github.com/ringrpc/ringrpc/bench-harness/go/internal/benchmsg"
)

// rawCase is a request (or several, pipelined) written as bytes on a new
// connection. deliberate, when set, says why the answers may differ.
type rawCase struct {
	name       string
	raw        string
	responses  int
	deliberate string
}

// clientCase is a request sent with net/http's client.
type clientCase struct {
	name       string
	method     string
	path       string
	header     map[string]string
	body       string
	deliberate string
}

// request writes one HTTP/1.1 request with a Content-Length.
func request(method, path string, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\n", method, path)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func one(name, raw string) rawCase { return rawCase{name: name, raw: raw, responses: 1} }

func deliberately(c rawCase, why string) rawCase {
	c.deliberate = why
	return c
}

const (
	mul  = `{"A":10,"B":20}`
	json = "X-RPCX-SerializeType: 1"
)

func baseCases(token string) []rawCase {
	auth := "Authorization: " + token
	method := func(m string) string { return "X-RPCX-ServiceMethod: " + m }
	protoRequest, _, err := benchmsg.Encoded()
	if err != nil {
		panic(err)
	}
	gw := func(name, path, m string, extra []string, body string) rawCase {
		headers := append([]string{method(m), auth}, extra...)
		return one(name, request("POST", path, headers, body))
	}
	jsonrpc := func(name, body string, extra ...string) rawCase {
		headers := append([]string{"X-JSONRPC-2.0: true", "Content-Type: application/json", auth}, extra...)
		return one(name, request("POST", "/", headers, body))
	}
	return []rawCase{
		// The gateway: every codec.
		gw("gateway json", "/Arith", "Mul", []string{json, "X-RPCX-MessageID: 12345", "X-RPCX-Meta: k=v"}, mul),
		gw("gateway msgpack", "/Arith", "Mul", []string{"X-RPCX-SerializeType: 3"}, "\x82\xa1A\x02\xa1B\x03"),
		gw("gateway protobuf", "/Hello", "Say", []string{"X-RPCX-SerializeType: 2"}, string(protoRequest)),
		deliberately(gw("gateway raw codec into a struct", "/Arith", "Mul", []string{"X-RPCX-SerializeType: 0"}, mul),
			"payload codec error texts are the Rust codec's (as on rpcx frames)"),
		gw("gateway serialize 17 keeps its low nibble", "/Arith", "Mul", []string{"X-RPCX-SerializeType: 17"}, mul),
		gw("gateway unknown codec", "/Arith", "Mul", []string{"X-RPCX-SerializeType: 7"}, mul),
		// Metadata and the echoed headers.
		gw("gateway response metadata", "/Test", "Meta", []string{json, "X-RPCX-Meta: b=2+3&a=%C3%A9&a=dup"}, mul),
		gw("gateway version and message id echoed", "/Arith", "Add", []string{json, "X-RPCX-Version: 7", "X-RPCX-MessageID: 0018"}, mul),
		gw("gateway service path header wins", "/Ignored", "Mul", []string{json, "X-RPCX-ServicePath: Arith"}, mul),
		gw("gateway percent-encoded path", "/Ar%69th", "Mul", []string{json}, mul),
		gw("gateway compress type parsed and dropped", "/Arith", "Mul", []string{json, "X-RPCX-CompressType: 1"}, mul),
		gw("gateway heartbeat header is a normal call", "/Arith", "Mul", []string{json, "X-RPCX-Heartbeat: true"}, mul),
		one("gateway GET", request("GET", "/Arith", []string{method("Mul"), json, auth}, mul)),
		one("gateway PUT", request("PUT", "/Arith", []string{method("Mul"), json, auth}, mul)),
		one("gateway DELETE is 405", request("DELETE", "/Arith", []string{method("Mul"), json, auth}, mul)),
		one("gateway OPTIONS lists the methods", request("OPTIONS", "/Arith", []string{method("Mul"), json, auth}, "")),
		// Errors.
		gw("gateway unknown service", "/Nope", "Mul", []string{json}, mul),
		gw("gateway unknown method", "/Arith", "Div", []string{json}, mul),
		gw("gateway method error", "/Test", "Fail", []string{json}, `{"A":1,"B":2}`),
		deliberately(gw("gateway bad JSON args", "/Arith", "Mul", []string{json}, `{"A":`),
			"payload codec error texts are the Rust codec's (as on rpcx frames)"),
		one("gateway missing method", request("POST", "/Arith", []string{json, auth}, mul)),
		one("gateway missing serialize type", request("POST", "/Arith", []string{method("Mul"), auth}, mul)),
		gw("gateway empty service path", "/", "Mul", []string{json}, mul),
		gw("gateway bad message id", "/Arith", "Mul", []string{json, "X-RPCX-MessageID: x1"}, mul),
		gw("gateway message id out of range", "/Arith", "Mul", []string{json, "X-RPCX-MessageID: 18446744073709551616"}, mul),
		gw("gateway bad serialize type", "/Arith", "Mul", []string{"X-RPCX-SerializeType: json"}, mul),
		gw("gateway bad compress type", "/Arith", "Mul", []string{json, "X-RPCX-CompressType: gzip"}, mul),
		gw("gateway bad meta escape", "/Arith", "Mul", []string{json, "X-RPCX-Meta: a=%zz"}, mul),
		gw("gateway meta with a semicolon", "/Arith", "Mul", []string{json, "X-RPCX-Meta: a=1;b=2"}, mul),
		// Auth and oneway.
		one("gateway wrong auth", request("POST", "/Arith", []string{method("Mul"), json, "Authorization: wrong"}, mul)),
		one("gateway missing auth", request("POST", "/Arith", []string{method("Mul"), json}, mul)),
		gw("gateway auth from meta is overridden", "/Test", "Meta", []string{json, "X-RPCX-Meta: __AUTH=wrong"}, mul),
		gw("gateway oneway", "/Arith", "Mul", []string{json, "X-RPCX-Oneway: true"}, mul),
		gw("gateway oneway unknown method", "/Arith", "Div", []string{json, "X-RPCX-Oneway: 1"}, mul),
		// Keep-alive and pipelining.
		{name: "gateway pipelined requests answered in order", responses: 3, raw: request("POST", "/Arith", []string{method("Mul"), json, auth}, `{"A":2,"B":3}`) +
			request("POST", "/Arith", []string{method("Add"), json, auth}, `{"A":2,"B":3}`) +
			request("POST", "/Arith", []string{method("Div"), json, auth}, `{"A":2,"B":3}`)},
		{name: "gateway chunked body", responses: 1, raw: "POST /Arith HTTP/1.1\r\nHost: t\r\nX-RPCX-ServiceMethod: Mul\r\n" + json + "\r\n" + auth +
			"\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"A\":3,\r\n6\r\n\"B\":4}\r\n0\r\n\r\n"},
		deliberately(rawCase{name: "gateway malformed chunked body", responses: 1, raw: "POST /Arith HTTP/1.1\r\nHost: t\r\nX-RPCX-ServiceMethod: Mul\r\n" + json + "\r\n" + auth +
			"\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"A\":3,\r\n7\r\n\"B\":4}\r\n0\r\n\r\n"},
			"a body that breaks its chunked framing gets 400 Bad Request and the connection closes (bodies are read before dispatch); rpcx-go reads it in the handler and answers 200 with X-Rpcx-Errormessage \"malformed chunked encoding\""),
		one("gateway HTTP/1.0", "POST /Arith HTTP/1.0\r\nX-RPCX-ServiceMethod: Mul\r\n"+json+"\r\n"+auth+"\r\nContent-Length: 15\r\n\r\n"+mul),
		// Services that behave differently over HTTP on purpose.
		deliberately(gw("gateway raw handler", "/Echo", "Echo", []string{"X-RPCX-SerializeType: 0"}, "hello"),
			"every registered handler is reachable through the gateway; rpcx-go's gateway never reaches AddHandler handlers"),
		deliberately(gw("gateway push needs rpcx", "/Test", "Push", []string{json}, `{"Count":0}`),
			"a handler sees an HTTP request as a request (a push fails when it is made); rpcx-go's Test.Push finds no connection in its context"),
		deliberately(gw("gateway __ServerTimeout enforced", "/Test", "Sleep", []string{json, "X-RPCX-Meta: __ServerTimeout=20"}, `{"Ms":200}`),
			"__ServerTimeout is enforced on gateway calls as on rpcx frames; rpcx-go ignores it there"),
		// Not a gateway call.
		deliberately(one("plain GET without X-RPCX headers", request("GET", "/", nil, "")),
			"a request with neither X-RPCX-* headers nor X-JSONRPC-2.0 gets 404 and a text saying what the port serves; rpcx-go treats it as a gateway call with an empty service path (200 + error headers)"),
		deliberately(one("PATCH with X-RPCX headers", request("PATCH", "/Arith", []string{method("Mul"), json, auth}, mul)),
			"PATCH gets the gateway's 405; rpcx-go's connection matcher does not know PATCH and closes the connection"),
		one("malformed request line", "GET /a b c\r\nHost: t\r\n\r\n"),
		one("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-RPCX-ServiceMethod: Mul\r\n\r\n"),
		// JSON-RPC 2.0.
		jsonrpc("jsonrpc call", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":10,"B":20},"id":1}`),
		jsonrpc("jsonrpc string id", `{"jsonrpc":"2.0","method":"Arith.Add","params":{"A":1,"B":2},"id":"abc"}`),
		jsonrpc("jsonrpc empty string id", `{"jsonrpc":"2.0","method":"Arith.Add","params":{"A":1,"B":2},"id":""}`),
		jsonrpc("jsonrpc member names in any case", `{"JSONRPC":"2.0","Method":"Arith.Mul","PARAMS":{"A":3,"B":3},"Id":9}`),
		jsonrpc("jsonrpc unknown method", `{"jsonrpc":"2.0","method":"Arith.Div","params":{},"id":2}`),
		jsonrpc("jsonrpc unknown service", `{"jsonrpc":"2.0","method":"No.Such","params":{},"id":2}`),
		jsonrpc("jsonrpc method without a dot", `{"jsonrpc":"2.0","method":"Mul","params":{},"id":3}`),
		jsonrpc("jsonrpc method error", `{"jsonrpc":"2.0","method":"Test.Fail","params":{"A":1,"B":2},"id":4}`),
		jsonrpc("jsonrpc metadata and auth reach the handler", `{"jsonrpc":"2.0","method":"Test.Meta","params":{},"id":5}`, "X-RPCX-Meta: k=v"),
		jsonrpc("jsonrpc notification", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":2}}`),
		jsonrpc("jsonrpc notification with null id", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":2},"id":null}`),
		jsonrpc("jsonrpc notification of an unknown method", `{"jsonrpc":"2.0","method":"Arith.Div","params":{}}`),
		jsonrpc("jsonrpc batch is not answered as a batch", `[{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":2},"id":1}]`),
		jsonrpc("jsonrpc wrong version", `{"jsonrpc":"1.0","method":"Arith.Mul","params":{},"id":1}`),
		jsonrpc("jsonrpc fractional id", `{"jsonrpc":"2.0","method":"Arith.Mul","params":{},"id":1.5}`),
		jsonrpc("jsonrpc method of the wrong type", `{"jsonrpc":"2.0","method":5,"params":{},"id":1}`),
		jsonrpc("jsonrpc null body", `null`),
		jsonrpc("jsonrpc truncated body", `{"jsonrpc":"2.0",`),
		deliberately(jsonrpc("jsonrpc syntax error", `{"jsonrpc" 2}`),
			"the -32700 message of a JSON syntax error is serde_json's text, not Go's (a truncated body gives Go's \"unexpected end of JSON input\")"),
		deliberately(jsonrpc("jsonrpc missing params", `{"jsonrpc":"2.0","method":"Arith.Mul","id":1}`),
			"a call without params gets -32602 \"params is required\"; rpcx-go dereferences a nil pointer and drops the connection (and crashes the process for a notification)"),
		one("jsonrpc wrong auth", request("POST", "/", []string{"X-JSONRPC-2.0: true", "Authorization: wrong"},
			`{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":2},"id":1}`)),
		jsonrpc("jsonrpc reply escaped as Go escapes it", `{"jsonrpc":"2.0","method":"Test.Fail","params":{"A":-1,"B":2},"id":"<&>"}`),
	}
}

func corsCases(token string) []rawCase {
	auth := "Authorization: " + token
	return []rawCase{
		one("cors preflight", request("OPTIONS", "/Arith", []string{"Origin: http://a.example", "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: x-rpcx-serializetype,x-rpcx-servicemethod"}, "")),
		one("cors preflight without origin", request("OPTIONS", "/Arith", []string{"Access-Control-Request-Method: POST"}, "")),
		one("cors actual request", request("POST", "/Arith", []string{"Origin: http://a.example", "X-RPCX-ServiceMethod: Mul", json, auth}, mul)),
		one("cors request without origin", request("POST", "/Arith", []string{"X-RPCX-ServiceMethod: Mul", json, auth}, mul)),
		one("cors jsonrpc", request("POST", "/", []string{"Origin: http://a.example", "X-JSONRPC-2.0: true", auth},
			`{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":1,"B":2},"id":1}`)),
	}
}

func clientCases(token string) []clientCase {
	h := func(kv ...string) map[string]string {
		m := map[string]string{"Authorization": token}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []clientCase{
		{name: "gateway call", method: "POST", path: "/Arith", header: h("X-RPCX-ServiceMethod", "Mul", "X-RPCX-SerializeType", "1"), body: mul},
		{name: "gateway call on the same connection", method: "POST", path: "/Arith", header: h("X-RPCX-ServiceMethod", "Add", "X-RPCX-SerializeType", "1", "X-RPCX-Meta", "x=1"), body: mul},
		{name: "gateway error on the same connection", method: "POST", path: "/Arith", header: h("X-RPCX-ServiceMethod", "Div", "X-RPCX-SerializeType", "1"), body: mul},
		{name: "gateway wrong auth on the same connection", method: "POST", path: "/Arith", header: map[string]string{"X-RPCX-ServiceMethod": "Mul", "X-RPCX-SerializeType": "1", "Authorization": "wrong"}, body: mul},
		{name: "jsonrpc call on a connection that began with gateway calls", method: "POST", path: "/rpc", header: h("X-JSONRPC-2.0", "true"),
			body:       `{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":6,"B":7},"id":42}`,
			deliberate: "ringrpc decides gateway or JSON-RPC per request; rpcx-go decides once per connection, so on this reused connection its gateway answers 200 with \"empty servicemethod\""},
	}
}
