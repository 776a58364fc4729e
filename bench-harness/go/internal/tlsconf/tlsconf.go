// Package tlsconf builds the crypto/tls configurations of the Go peers (the
// rpcx-go and grpc-go servers, the interop checker, the load generator) from
// PEM files named on their command lines, so every peer speaks TLS the same way
// in the interop checks and the benchmarks.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
)

// Client holds a client's TLS flags: -tls-ca, -tls-cert, -tls-key,
// -tls-server-name. TLS is on when -tls-ca is set.
type Client struct {
	CA, Cert, Key, ServerName string
}

// ClientFlags registers the client flags on the default flag set.
func ClientFlags() *Client {
	c := &Client{}
	flag.StringVar(&c.CA, "tls-ca", "", "TLS: trust the CA certificates in this PEM `file` (TLS is off without it)")
	flag.StringVar(&c.Cert, "tls-cert", "", "TLS: client certificate chain PEM `file` (mTLS)")
	flag.StringVar(&c.Key, "tls-key", "", "TLS: client key PEM `file` (mTLS)")
	flag.StringVar(&c.ServerName, "tls-server-name", "localhost", "TLS: the `name` the server certificate must carry")
	return c
}

// Config is the client's tls.Config, or nil when TLS is off.
func (c *Client) Config() (*tls.Config, error) {
	if c.CA == "" {
		return nil, nil
	}
	pool, err := pool(c.CA)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{RootCAs: pool, ServerName: c.ServerName}
	if c.Cert != "" || c.Key != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// Server holds a server's TLS flags: -tls-cert, -tls-key, -tls-client-ca. TLS
// is on when -tls-cert is set.
type Server struct {
	Cert, Key, ClientCA string
}

// ServerFlags registers the server flags on the default flag set.
func ServerFlags() *Server {
	s := &Server{}
	flag.StringVar(&s.Cert, "tls-cert", "", "TLS: serve TLS with this certificate chain PEM `file`")
	flag.StringVar(&s.Key, "tls-key", "", "TLS: the certificate's key PEM `file`")
	flag.StringVar(&s.ClientCA, "tls-client-ca", "", "TLS: require client certificates signed by a CA in this PEM `file` (mTLS)")
	return s
}

// Config is the server's tls.Config, or nil when TLS is off.
func (s *Server) Config() (*tls.Config, error) {
	if s.Cert == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(s.Cert, s.Key)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{pair}}
	if s.ClientCA != "" {
		pool, err := pool(s.ClientCA)
		if err != nil {
			return nil, err
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

func pool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, errors.New(path + ": no certificate")
	}
	return p, nil
}
