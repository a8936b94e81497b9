package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"issuerconsole/services/issuance"
	"issuerconsole/services/offerings"
)

// silentListener accepts connections and never answers: an API that
// hangs. started gets one value per connection; every connection and the
// accept loop end at the test's end.
func silentListener(t *testing.T) (net.Listener, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case started <- struct{}{}:
			default:
			}
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) }) // until closed
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln, started
}

// Close cancels the search page's status counts in progress and waits for
// them before the audit store and the database close (each call writes an
// audit row): a count blocked on a hanging API ends with context.Canceled
// when Close returns, and no count starts afterwards.
func TestCloseEndsStatusCounts(t *testing.T) {
	t.Parallel()
	ln, started := silentListener(t)
	a, err := New(context.Background(), startConfig(t), ln.Addr(), slog.New(slog.DiscardHandler), io.Discard,
		Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	if a.counts == nil {
		t.Fatal("no status counts cache with the Issuance API configured")
	}
	counts := a.counts
	got := make(chan error, 1)
	go func() {
		_, err := counts.Get(context.Background(), url.Values{"amount__gte": {"5"}})
		got <- err
	}()
	<-started // a count call is at the (hanging) API
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	// Cancelled, not timed out (the client's timeout is 30 s); that Close
	// also waits for the load is TestStatusCountsCloseCancelsAndWaits.
	bound := time.NewTimer(time.Minute) // only bounds a failure
	defer bound.Stop()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("count in progress at Close: %v, want context.Canceled", err)
		}
	case <-bound.C:
		t.Fatal("a status count outlived Close")
	}
	if _, err := counts.Get(context.Background(), url.Values{"amount__gte": {"6"}}); !errors.Is(err, issuance.ErrCountsUnavailable) {
		t.Fatalf("count after Close: %v, want ErrCountsUnavailable", err)
	}
}

// The offering pages' shared loads end with the App too: one blocked on a
// hanging API is cancelled by Close, and none starts afterwards.
func TestCloseEndsOfferingLoads(t *testing.T) {
	t.Parallel()
	ln, started := silentListener(t)
	a, err := New(context.Background(), startConfig(t), ln.Addr(), slog.New(slog.DiscardHandler), io.Discard,
		Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	if a.offerings == nil {
		t.Fatal("no offerings service with the Issuance API configured")
	}
	offs := a.offerings
	got := make(chan error, 1)
	go func() {
		_, err := offs.Overview(context.Background(), 1)
		got <- err
	}()
	<-started // the shared load is at the (hanging) API
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	// Cancelled, not timed out (the client's timeout is 30 s).
	bound := time.NewTimer(time.Minute) // only bounds a failure
	defer bound.Stop()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("offering load in progress at Close: %v, want context.Canceled", err)
		}
	case <-bound.C:
		t.Fatal("an offering load outlived Close")
	}
	if _, err := offs.Overview(context.Background(), 2); !errors.Is(err, offerings.ErrClosed) {
		t.Fatalf("load after Close: %v, want offerings.ErrClosed", err)
	}
}
