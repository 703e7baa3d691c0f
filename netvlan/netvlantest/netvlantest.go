package netvlantest

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/database/inmemory"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
	"github.com/ovn-org/libovsdb/server"

	"github.com/shoalkit/shoal/netvlan/ovsmodel"
)

// Server is an in-memory OVSDB server listening on a unix socket in a temp
// dir. Stop and Start drop and restore the socket and every connection, as
// an ovsdb-server restart does; the database survives, as ovsdb-server's
// file does.
type Server struct {
	Endpoint string // "unix:" + the socket path
	Socket   string

	inner string // libovsdb's server socket, which never stops

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartServer starts a server whose database holds the Open_vSwitch row and
// the named bridges, and stops it in t.Cleanup.
func StartServer(t testing.TB, bridges ...string) *Server {
	t.Helper()
	clientModel, err := ovsmodel.FullDatabaseModel()
	if err != nil {
		t.Fatalf("netvlantest: %v", err)
	}
	models, errs := model.NewDatabaseModel(ovsmodel.Schema(), clientModel)
	if len(errs) > 0 {
		t.Fatalf("netvlantest: %v", errs)
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir is long.
	dir, err := os.MkdirTemp("", "netvlantest-")
	if err != nil {
		t.Fatalf("netvlantest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &Server{Socket: filepath.Join(dir, "db.sock"), inner: filepath.Join(dir, "inner.sock")}
	s.Endpoint = "unix:" + s.Socket
	db := inmemory.NewDatabase(map[string]model.ClientDBModel{"Open_vSwitch": clientModel})
	srv, err := server.NewOvsdbServer(db, models)
	if err != nil {
		t.Fatalf("netvlantest: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve("unix", s.inner)
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("netvlantest: server not ready after 5s")
		}
		time.Sleep(time.Millisecond)
	}
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	s.init(t, bridges)
	return s
}

// Start opens the socket again after Stop.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "unix", s.Socket)
	if err != nil {
		t.Fatalf("netvlantest: %v", err)
	}
	s.mu.Lock()
	s.l, s.conns = l, map[net.Conn]struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.pipe(c)
			}()
		}
	}()
}

// pipe forwards one client connection to the inner server.
func (s *Server) pipe(c net.Conn) {
	var d net.Dialer
	up, err := d.DialContext(context.Background(), "unix", s.inner)
	if err != nil {
		_ = c.Close()
		return
	}
	s.mu.Lock()
	if s.conns == nil {
		s.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	s.conns[c], s.conns[up] = struct{}{}, struct{}{}
	s.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
}

// Stop closes the socket and every connection; clients see the server
// go away. Calling it again does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	l, conns := s.l, s.conns
	s.l, s.conns = nil, nil
	s.mu.Unlock()
	if l == nil {
		return
	}
	_ = l.Close()
	for c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
	_ = os.Remove(s.Socket)
}

// Transact runs raw operations against the database through a client of
// its own, for tests that set up rows netvlan did not make.
func (s *Server) Transact(t testing.TB, ops ...ovsdb.Operation) []ovsdb.OperationResult {
	t.Helper()
	c := s.client(t)
	defer c.Close()
	res, err := c.Transact(context.Background(), ops...)
	if err != nil {
		t.Fatalf("netvlantest: transact: %v", err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		t.Fatalf("netvlantest: transact: %v", err)
	}
	return res
}

func (s *Server) client(t testing.TB) client.Client {
	t.Helper()
	clientModel, err := ovsmodel.FullDatabaseModel()
	if err != nil {
		t.Fatalf("netvlantest: %v", err)
	}
	discard := logr.Discard()
	c, err := client.NewOVSDBClient(clientModel, client.WithEndpoint(s.Endpoint), client.WithLogger(&discard))
	if err != nil {
		t.Fatalf("netvlantest: %v", err)
	}
	if err := c.Connect(context.Background()); err != nil {
		t.Fatalf("netvlantest: connect: %v", err)
	}
	return c
}

// init inserts the Open_vSwitch row and the bridges.
func (s *Server) init(t testing.TB, bridges []string) {
	t.Helper()
	root := ovsdb.Row{"next_cfg": 0, "cur_cfg": 0}
	var refs []any
	ops := []ovsdb.Operation{}
	for i, b := range bridges {
		named := "bridge_" + strconv.Itoa(i)
		ops = append(ops, ovsdb.Operation{
			Op: ovsdb.OperationInsert, Table: ovsmodel.BridgeTable, UUIDName: named,
			Row: ovsdb.Row{"name": b, "datapath_type": "netdev"},
		})
		refs = append(refs, ovsdb.UUID{GoUUID: named})
	}
	root["bridges"] = ovsdb.OvsSet{GoSet: refs}
	ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationInsert, Table: ovsmodel.OpenvSwitchTable, Row: root})
	s.Transact(t, ops...)
}
