package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"time"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
)

// maxRawFrame bounds what the raw checks accept from a server.
const maxRawFrame = 64 << 20

// rawConn speaks the rpcx framing directly, for the checks that have to see
// what a Go client hides (oneway requests getting no answer, exact reply
// frames, the server closing the connection).
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func (e *env) rawDial(ctx context.Context) (*rawConn, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	var c net.Conn
	var err error
	if tlsConfig := client.DefaultOption.TLSConfig; tlsConfig != nil {
		// Over TLS (-tls-ca) the raw frames go inside TLS, as a Go client's would.
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		c, err = td.DialContext(ctx, e.network, e.addr)
	} else {
		c, err = d.DialContext(ctx, e.network, e.addr)
	}
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (rc *rawConn) Close() error { return rc.c.Close() }

func (rc *rawConn) write(frames ...[]byte) error {
	var all []byte
	for _, f := range frames {
		all = append(all, f...)
	}
	_, err := rc.c.Write(all)
	return err
}

// readFrame reads one whole frame within timeout and decodes it.
func (rc *rawConn) readFrame(timeout time.Duration) ([]byte, *protocol.Message, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(timeout))
	head := make([]byte, 16)
	if _, err := io.ReadFull(rc.r, head); err != nil {
		return nil, nil, err
	}
	if head[0] != protocol.MagicNumber() {
		return nil, nil, fmt.Errorf("bad magic byte 0x%02x", head[0])
	}
	l := binary.BigEndian.Uint32(head[12:16])
	if l > maxRawFrame {
		return nil, nil, fmt.Errorf("frame length %d too large", l)
	}
	frame := make([]byte, 16+int(l))
	copy(frame, head)
	if _, err := io.ReadFull(rc.r, frame[16:]); err != nil {
		return nil, nil, err
	}
	if err := checkSections(frame); err != nil {
		return frame, nil, err
	}
	m, err := protocol.Read(bytes.NewReader(frame))
	if err != nil {
		return frame, nil, fmt.Errorf("decode: %v", err)
	}
	return frame, m, nil
}

// checkSections verifies that the four length-prefixed sections exactly
// fill the frame (rpcx-go's decoder does not check the payload length word).
func checkSections(frame []byte) error {
	n := 16
	for i := 0; i < 4; i++ {
		if n+4 > len(frame) {
			return fmt.Errorf("section %d length word past the end of the frame", i+1)
		}
		n += 4 + int(binary.BigEndian.Uint32(frame[n:n+4]))
		if n > len(frame) {
			return fmt.Errorf("section %d runs past the end of the frame", i+1)
		}
	}
	if n != len(frame) {
		return fmt.Errorf("sections end at %d, frame has %d bytes", n, len(frame))
	}
	return nil
}

// newRaw builds a request the way the Go client does, with __AUTH when the
// server expects a token.
func (e *env) newRaw(seq uint64, st protocol.SerializeType, path, method string, payload []byte, oneway bool) *protocol.Message {
	m := protocol.NewMessage()
	m.SetMessageType(protocol.Request)
	m.SetSeq(seq)
	m.SetOneway(oneway)
	m.SetSerializeType(st)
	m.ServicePath = path
	m.ServiceMethod = method
	m.Payload = payload
	e.authorize(m)
	return m
}

// authorize adds __AUTH to a non-heartbeat request when a token is set.
func (e *env) authorize(m *protocol.Message) {
	if e.token == "" || m.IsHeartbeat() {
		return
	}
	meta := maps.Clone(m.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[share.AuthKey] = e.token
	m.Metadata = meta
}

// sameMessage compares a decoded reply with the expected one: header bytes,
// path, method, metadata (without __AUTH, which the echoing services copy
// back) and the decompressed payload.
func sameMessage(got, want *protocol.Message) error {
	if *got.Header != *want.Header {
		return fmt.Errorf("header % x, want % x", got.Header[:], want.Header[:])
	}
	if got.ServicePath != want.ServicePath || got.ServiceMethod != want.ServiceMethod {
		return fmt.Errorf("path/method %q.%q, want %q.%q", got.ServicePath, got.ServiceMethod, want.ServicePath, want.ServiceMethod)
	}
	gm, wm := maps.Clone(got.Metadata), maps.Clone(want.Metadata)
	delete(gm, share.AuthKey)
	delete(wm, share.AuthKey)
	if len(gm) != len(wm) || (len(gm) > 0 && !maps.Equal(gm, wm)) {
		return fmt.Errorf("metadata %v, want %v", gm, wm)
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		return fmt.Errorf("payload %s, want %s", short(got.Payload), short(want.Payload))
	}
	return nil
}

func short(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("%x... (%d bytes)", b[:48], len(b))
	}
	return fmt.Sprintf("%x (%d bytes)", b, len(b))
}
