package issuance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// An offering's key sees its offering and that offering's investments, and
// nothing of the others; the all-seeing key keeps seeing everything; the
// Firebase endpoints do not take an offering key.
func TestOfferingKeysScope(t *testing.T) {
	t.Parallel()
	e, err := Open(context.Background(), openDB(t), Options{Seed: 3, Investments: 300})
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler()
	keys := e.APIKeys()
	if len(keys) < 3 {
		t.Fatalf("%d offering keys, want one per offering", len(keys))
	}
	count := func(target, auth string) int {
		r := do(t, h, "GET", target, auth, nil, "")
		if r.status != 200 {
			t.Fatalf("%s with %q: %d %s", target, auth, r.status, r.body)
		}
		var p struct {
			Count   int `json:"count"`
			Results []struct {
				ID       int64 `json:"id"`
				Offering int64 `json:"offering"`
			} `json:"results"`
		}
		json.Unmarshal(r.body, &p)
		return p.Count
	}
	all := count("/api/investments/", "Api-Key "+DefaultAPIKey)
	sum := 0
	for _, k := range keys {
		auth := "Api-Key " + k.Key
		off := k.Offerings[0]
		if n := count("/api/offerings/", auth); n != 1 {
			t.Fatalf("key of offering %d lists %d offerings", off, n)
		}
		mine := count(fmt.Sprintf("/api/investments/?offering=%d", off), "Api-Key "+DefaultAPIKey)
		if n := count("/api/investments/", auth); n != mine {
			t.Fatalf("key of offering %d lists %d investments, the offering has %d", off, n, mine)
		}
		sum += mine
		other := keys[0].Offerings[0]
		if other == off {
			other = keys[1].Offerings[0]
		}
		if n := count(fmt.Sprintf("/api/investments/?offering=%d", other), auth); n != 0 {
			t.Fatalf("key of offering %d sees %d investments of offering %d", off, n, other)
		}
		if r := do(t, h, "GET", fmt.Sprintf("/api/offerings/%d/", other), auth, nil, ""); r.status != http.StatusNotFound {
			t.Fatalf("another offering's detail: %d", r.status)
		}
		if r := do(t, h, "GET", "/api/investors/", auth, nil, ""); r.status != http.StatusUnauthorized {
			t.Fatalf("investors with an offering key: %d", r.status)
		}
	}
	if sum != all {
		t.Fatalf("the offering keys see %d investments together, the all-seeing key %d", sum, all)
	}
	if r := do(t, h, "GET", "/api/offerings/", "Api-Key sandbox-offering-999999-key", nil, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("the key of a missing offering: %d", r.status)
	}
}
