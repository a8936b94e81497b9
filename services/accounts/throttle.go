package accounts

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits sign-in attempts per account and per client address, with
// token buckets from golang.org/x/time/rate.
//
// An attempt is reserved before the password is checked: Reserve takes a
// token from every bucket that applies under one lock, so parallel guesses
// cannot all pass a check made before the slow bcrypt comparison (the
// finding: 68 guesses a minute with 64 connections against 5 allowed). A
// successful sign-in gives the tokens back and clears the account's bucket.
//
// Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
// Cookies"): a browser that has signed in to an account before holds a
// signed device cookie for it. Its attempts at that account count against a
// bucket of that device only, not against the account's bucket for unknown
// clients nor the address's, so an attacker who exhausts those cannot lock
// the real user out of a browser they have used before. A stolen device
// cookie without the password only gets the same small allowance, for that
// one device.
type Throttle struct {
	mu       sync.Mutex
	now      func() time.Time
	account  policy
	address  policy
	limiters map[string]*rate.Limiter
}

type policy struct {
	burst  int
	refill time.Duration // one attempt is forgiven per refill
}

// ThrottleOptions set the limits; zero values take the defaults.
type ThrottleOptions struct {
	AccountBurst  int           // attempts per account (and per device) before waiting (default 5)
	AccountRefill time.Duration // then one more try per this long (default 1m)
	AddressBurst  int           // attempts per client address (default 20)
	AddressRefill time.Duration // default 15s
	Now           func() time.Time
}

// NewThrottle returns a Throttle with the given limits.
func NewThrottle(o ThrottleOptions) *Throttle {
	t := &Throttle{
		now:      o.Now,
		account:  policy{o.AccountBurst, o.AccountRefill},
		address:  policy{o.AddressBurst, o.AddressRefill},
		limiters: map[string]*rate.Limiter{},
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.account.burst == 0 {
		t.account.burst = 5
	}
	if t.account.refill == 0 {
		t.account.refill = time.Minute
	}
	if t.address.burst == 0 {
		t.address.burst = 20
	}
	if t.address.refill == 0 {
		t.address.refill = 15 * time.Second
	}
	return t
}

// accountKey is a fixed-size key, whatever was typed (a 5 MB "e-mail"
// must not become a 5 MB map key).
func accountKey(email string) string {
	email = strings.TrimSpace(email)
	if len(email) > 254 {
		return "a:(too long)" // names no account; the address's limit applies
	}
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return "a:" + string(h[:])
}
func addressKey(addr string) string  { return "i:" + addr }
func deviceKey(device string) string { return "d:" + device }

func (t *Throttle) limiter(key string, p policy) *rate.Limiter {
	l, ok := t.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(p.refill), p.burst)
		t.limiters[key] = l
	}
	return l
}

// Attempt is a reserved sign-in attempt.
type Attempt struct {
	t       *Throttle
	account string // bucket cleared by a success
	held    []*rate.Reservation
}

// Reserve takes one attempt from the buckets of the account (or of the
// device, when device is the id of a valid device cookie for this account)
// and of the client address, atomically. It returns a wait instead when a
// bucket is empty; nothing is taken then.
func (t *Throttle) Reserve(email, addr, device string) (*Attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	type bucket struct {
		key string
		p   policy
	}
	buckets := []bucket{{accountKey(email), t.account}, {addressKey(addr), t.address}}
	if device != "" {
		buckets = []bucket{{deviceKey(device), t.account}}
	}
	var wait time.Duration
	for _, b := range buckets {
		if tokens := t.limiter(b.key, b.p).TokensAt(now); tokens < 1 {
			wait = max(wait, time.Duration((1-tokens)*float64(b.p.refill)))
		}
	}
	if wait > 0 {
		return nil, max(wait, time.Second)
	}
	a := &Attempt{t: t, account: buckets[0].key}
	for _, b := range buckets {
		a.held = append(a.held, t.limiter(b.key, b.p).ReserveN(now, 1))
	}
	t.prune(now)
	return a, 0
}

// Succeeded gives the attempt back and clears the account's (or device's)
// past failures; the address keeps the attempts of other accounts.
func (a *Attempt) Succeeded() {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, r := range a.held {
		r.CancelAt(now)
	}
	delete(t.limiters, a.account)
}

// prune drops buckets that have refilled completely, bounding memory.
func (t *Throttle) prune(now time.Time) {
	if len(t.limiters) < 1024 {
		return
	}
	for k, l := range t.limiters {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(t.limiters, k)
		}
	}
}
