// Command httpdiff sends the same HTTP requests to an rpcx-go server and to
// another server on the rpcx port (the gateway, JSON-RPC 2.0 and bad input)
// and compares what comes back: the status, every X-Rpcx-* header, Allow,
// and the body.
//
//	go run ./cmd/httpdiff -rpcx 127.0.0.1:8973 -other 127.0.0.1:8972 -auth TOKEN [-set base|cors] [-v]
//
// Both servers run cmd/rpcxserver's services with the same -auth token (and,
// for -set cors, with CORS allowing all). A case listed as deliberate in
// cases.go may differ; any other difference fails the run. The last line is
// "httpdiff: N passed, M failed" and the exit status is 1 when M > 0.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// answer is what one request got: a response, or the connection closed.
type answer struct {
	closed bool
	status int
	header map[string]string
	body   []byte
}

func (a answer) String() string {
	if a.closed {
		return "connection closed without a response"
	}
	keys := make([]string, 0, len(a.header))
	for k := range a.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d", a.status)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, a.header[k])
	}
	fmt.Fprintf(&b, " body=%q", a.body)
	return b.String()
}

func compared(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "X-Rpcx-") || k == "Allow" || strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

func same(a, b answer) bool {
	if a.closed || b.closed {
		return a.closed == b.closed
	}
	if a.status != b.status || !bytes.Equal(a.body, b.body) || len(a.header) != len(b.header) {
		return false
	}
	for k, v := range a.header {
		if w, ok := b.header[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// exchange writes raw on a new connection and reads up to n responses.
func exchange(addr string, raw string, n int) []answer {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return []answer{{closed: true}}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(raw)); err != nil {
		return []answer{{closed: true}}
	}
	r := bufio.NewReader(conn)
	var out []answer
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			out = append(out, answer{closed: true})
			break
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, answer{status: resp.StatusCode, header: compared(resp.Header), body: body})
	}
	return out
}

// viaClient sends req with a net/http client (keep-alive, one connection reused).
func viaClient(client *http.Client, addr string, c clientCase) answer {
	req, err := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(c.body))
	if err != nil {
		return answer{closed: true}
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{closed: true}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: compared(resp.Header), body: body}
}

func main() {
	rpcxAddr := flag.String("rpcx", "127.0.0.1:8973", "rpcx-go server `address`")
	otherAddr := flag.String("other", "127.0.0.1:8972", "the `address` of the server compared with rpcx-go")
	token := flag.String("auth", "", "the `token` both servers expect")
	set := flag.String("set", "base", "which cases: `base` or cors (both servers with CORS allowing all)")
	verbose := flag.Bool("v", false, "print both answers of every case")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "httpdiff: -auth is required")
		os.Exit(2)
	}

	var raws []rawCase
	switch *set {
	case "base":
		raws = baseCases(*token)
	case "cors":
		raws = corsCases(*token)
	default:
		fmt.Fprintf(os.Stderr, "httpdiff: unknown -set %q\n", *set)
		os.Exit(2)
	}
	passed, failed, deliberate := 0, 0, 0
	report := func(name, why string, a, b []answer) {
		equal := len(a) == len(b)
		for i := 0; equal && i < len(a); i++ {
			equal = same(a[i], b[i])
		}
		switch {
		case equal && why != "":
			fmt.Printf("PASS %s (same, although listed as deliberate: %s)\n", name, why)
			passed++
		case equal:
			fmt.Printf("PASS %s\n", name)
			passed++
		case why != "":
			fmt.Printf("PASS %s (deliberate difference: %s)\n", name, why)
			deliberate++
			passed++
		default:
			fmt.Printf("FAIL %s\n", name)
			failed++
		}
		if *verbose || (!equal && why == "") {
			fmt.Printf("    rpcx-go: %v\n    other:   %v\n", a, b)
		}
	}
	for _, c := range raws {
		n := max(c.responses, 1)
		report(c.name, c.deliberate, exchange(*rpcxAddr, c.raw, n), exchange(*otherAddr, c.raw, n))
	}
	if *set == "base" {
		clientA := &http.Client{Timeout: 5 * time.Second}
		clientB := &http.Client{Timeout: 5 * time.Second}
		for _, c := range clientCases(*token) {
			a := viaClient(clientA, *rpcxAddr, c)
			b := viaClient(clientB, *otherAddr, c)
			report("net/http client: "+c.name, c.deliberate, []answer{a}, []answer{b})
		}
	}
	fmt.Printf("httpdiff: %d deliberate differences\n", deliberate)
	fmt.Printf("httpdiff: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
