package accounts

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed sign-ins per account and per client address, with
// token buckets from golang.org/x/time/rate. Only failures spend tokens, so a
// user who signs in correctly is never slowed down; a success clears the
// account's bucket.
type Throttle struct {
	mu       sync.Mutex
	now      func() time.Time
	account  policy
	address  policy
	limiters map[string]*rate.Limiter
}

type policy struct {
	burst  int
	refill time.Duration // one failure is forgiven per refill
}

// ThrottleOptions set the limits; zero values take the defaults.
type ThrottleOptions struct {
	AccountBurst  int           // failures allowed per account before waiting (default 5)
	AccountRefill time.Duration // then one more try per this long (default 1m)
	AddressBurst  int           // failures allowed per client address (default 20)
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
func addressKey(addr string) string { return "i:" + addr }

func (t *Throttle) limiter(key string, p policy) *rate.Limiter {
	l, ok := t.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(p.refill), p.burst)
		t.limiters[key] = l
	}
	return l
}

// Wait reports how long the caller must wait before trying to sign in as
// email from addr; zero means go ahead.
func (t *Throttle) Wait(email, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range []struct {
		key string
		p   policy
	}{{accountKey(email), t.account}, {addressKey(addr), t.address}} {
		l, ok := t.limiters[k.key]
		if !ok {
			continue
		}
		if tokens := l.TokensAt(now); tokens < 1 {
			d := time.Duration((1 - tokens) * float64(k.p.refill))
			wait = max(wait, d)
		}
	}
	return wait
}

// Failed records a failed sign-in.
func (t *Throttle) Failed(email, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.limiter(accountKey(email), t.account).AllowN(now, 1)
	t.limiter(addressKey(addr), t.address).AllowN(now, 1)
	t.prune(now)
}

// Succeeded clears the account's failures (not the address's: one good
// password must not reset an attacker's budget for other accounts).
func (t *Throttle) Succeeded(email string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.limiters, accountKey(email))
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
