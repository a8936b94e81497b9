package importer

import (
	"testing"
	"time"

	"issuerconsole/services/cashlink"
)

// The delivery estimate starts at the configured delay, moves toward what
// Cashlink's own times show (the credit's created_at to the investment's
// delivered_at), grows by half after a read that came too early, and never
// passes maxDeliveryWait.
func TestDeliveryEstimateIsLearnt(t *testing.T) {
	t.Parallel()
	e := &Engine{delivery: deliveryClock{est: time.Second}}
	credited := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	delivered := credited.Add(200 * time.Millisecond)
	cr := cashlink.Credit{Fields: map[string]any{"created_at": credited.Format(time.RFC3339Nano)}}
	inv := cashlink.Investment{DeliveredAt: &delivered}
	prev := e.delivery.get()
	for range 20 {
		e.learn(cr, inv)
		if got := e.delivery.get(); got >= prev {
			t.Fatalf("the estimate went from %v to %v, deliveries take 200ms", prev, got)
		}
		prev = e.delivery.get()
	}
	if got := e.delivery.get(); got < 200*time.Millisecond || got > 300*time.Millisecond {
		t.Fatalf("after 20 deliveries of 200ms the estimate is %v, want near 220ms (with its margin)", got)
	}
	e.learn(cashlink.Credit{}, inv) // no created_at: nothing learnt
	e.learn(cr, cashlink.Investment{})
	if e.delivery.get() != prev {
		t.Fatal("an answer without both times changed the estimate")
	}
	e.delivery.early()
	if got := e.delivery.get(); got != prev*3/2 {
		t.Fatalf("a read too early: %v, want %v", got, prev*3/2)
	}
	for range 50 {
		e.delivery.early()
	}
	if got := e.delivery.get(); got != maxDeliveryWait {
		t.Fatalf("the estimate grew to %v, capped at %v", got, maxDeliveryWait)
	}
}
