package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalkit/shoal/examples/internal/controller"
	"github.com/shoalkit/shoal/examples/internal/daemon"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	for range 50 {
		l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().(*net.TCPAddr)
		_ = l.Close()
		if addr.Port < 32768 {
			return addr.String()
		}
	}
	return fmt.Sprintf("127.0.0.1:%d", 20000+time.Now().Nanosecond()%10000)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }

func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shoal-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestDaemon starts the controller as its main does, over TLS with an
// embedded etcd: the token file is written 0600 at the first start and
// kept at the next, a call without it is refused, one with it answers.
func TestDaemon(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	start := func() (api string, stop func()) {
		api = freeAddr(t)
		ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
		done := make(chan error, 1)
		var stderr syncBuf
		etcdAddr := freeAddr(t)
		go func() {
			done <- run(ctx, []string{"-listen", api, "-data", dir, "-etcd-listen", etcdAddr, "-tls-cert", certFile, "-tls-key", keyFile}, nil, &stderr)
		}()
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 2 * time.Second}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := cl.Get("https://" + api + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("controller not answering after 30 s: %v\n%s", err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return api, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controller stopped with %v\n%s", err, stderr.String())
			}
		}
	}
	api, stop := start()
	tokFile := filepath.Join(dir, "token")
	fi, err := os.Stat(tokFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	tok, _ := os.ReadFile(tokFile)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	cl := &controller.Client{URL: "https://" + api, Token: strings.TrimSpace(string(tok)), HTTP: &http.Client{Transport: tr}}
	if _, err := cl.Do(t.Context(), http.MethodGet, "/v1/apps", "", nil, nil); err != nil {
		t.Errorf("with the token: %v", err)
	}
	wrong := &controller.Client{URL: cl.URL, Token: "nope", HTTP: cl.HTTP}
	var p *controller.ProblemError
	if _, err := wrong.Do(t.Context(), http.MethodGet, "/v1/apps", "", nil, nil); !errors.As(err, &p) || p.Status != http.StatusUnauthorized {
		t.Errorf("a wrong token: %v", err)
	}
	stop()

	// A restart keeps the cluster's token.
	_, stop = start()
	tok2, _ := os.ReadFile(tokFile)
	stop()
	if !bytes.Equal(tok, tok2) {
		t.Error("a restart changed the cluster's token")
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-tls-cert", "x"}, {"-nope"}, {"extra"}} {
		var stderr bytes.Buffer
		if err := run(t.Context(), args, nil, &stderr); !errors.Is(err, daemon.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
