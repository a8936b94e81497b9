package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
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

// closeDuringLoad starts an App whose Issuance API hangs, starts load(a, 1)
// and closes the App once the load's call is at the API: the load must end
// with context.Canceled (not the client's 30 s timeout) by the time Close
// returns. It returns what load(a, 2) gives after Close.
func closeDuringLoad(t *testing.T, load func(a *App, n int) error) error {
	t.Helper()
	ln, started := silentListener(t)
	a, err := New(context.Background(), startConfig(t), ln.Addr(), slog.New(slog.DiscardHandler), io.Discard,
		Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- load(a, 1) }()
	<-started // the call is at the (hanging) API
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	bound := time.NewTimer(time.Minute) // only bounds a failure
	defer bound.Stop()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("load in progress at Close: %v, want context.Canceled", err)
		}
	case <-bound.C:
		t.Fatal("a load outlived Close")
	}
	return load(a, 2)
}

// Close cancels the search page's status counts in progress and waits for
// them before the audit store and the database close (each call writes an
// audit row), and no count starts afterwards. That Close also waits for
// the load is TestStatusCountsCloseCancelsAndWaits.
func TestCloseEndsStatusCounts(t *testing.T) {
	t.Parallel()
	err := closeDuringLoad(t, func(a *App, n int) error {
		_, err := a.counts.Get(context.Background(), url.Values{"amount__gte": {strconv.Itoa(4 + n)}})
		return err
	})
	if !errors.Is(err, issuance.ErrCountsUnavailable) {
		t.Fatalf("count after Close: %v, want ErrCountsUnavailable", err)
	}
}

// The offering pages' shared loads end with the App too.
func TestCloseEndsOfferingLoads(t *testing.T) {
	t.Parallel()
	err := closeDuringLoad(t, func(a *App, n int) error {
		_, err := a.offerings.Overview(context.Background(), int64(n))
		return err
	})
	if !errors.Is(err, offerings.ErrClosed) {
		t.Fatalf("load after Close: %v, want offerings.ErrClosed", err)
	}
}
