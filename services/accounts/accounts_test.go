package accounts

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"issuerconsole/db"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T) (*Service, *clock) {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c := &clock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	s, err := New(d, Options{SessionIdle: 30 * time.Minute, SessionLifetime: 12 * time.Hour, BcryptCost: bcrypt.MinCost, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

const pw = "correct horse battery"

func mustCreate(t *testing.T, s *Service, email string, role Role) User {
	t.Helper()
	u, err := s.Create(context.Background(), NewUser{Email: email, Role: role, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	mustCreate(t, s, "taken@example.com", RoleAdmin)
	tests := []struct {
		name  string
		in    NewUser
		field string
	}{
		{"empty email", NewUser{Role: RoleAdmin, Password: pw}, "email"},
		{"display-name email", NewUser{Email: "Jane <j@example.com>", Role: RoleAdmin, Password: pw}, "email"},
		{"bad role", NewUser{Email: "a@example.com", Role: "root", Password: pw}, "role"},
		{"short password", NewUser{Email: "a@example.com", Role: RoleAdmin, Password: "short"}, "password"},
		{"password over 72 bytes", NewUser{Email: "a@example.com", Role: RoleAdmin, Password: strings.Repeat("x", 73)}, "password"},
		{"duplicate email, other case", NewUser{Email: "TAKEN@example.com", Role: RoleAuditor, Password: pw}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Create(context.Background(), tt.in)
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Fields[tt.field] == "" {
				t.Fatalf("err = %v, want a validation error on %s", err, tt.field)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	ctx := context.Background()
	u := mustCreate(t, s, "jane@example.com", RoleAuditor)
	other := mustCreate(t, s, "admin@example.com", RoleAdmin)

	if got, err := s.Authenticate(ctx, " jane@example.com ", pw); err != nil || got.ID != u.ID {
		t.Fatalf("good password: %v %v", got, err)
	}
	for _, tc := range []struct{ email, pw string }{{"jane@example.com", "wrong password!!"}, {"nobody@example.com", pw}} {
		if _, err := s.Authenticate(ctx, tc.email, tc.pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s/%s: err = %v, want ErrBadCredentials", tc.email, tc.pw, err)
		}
	}
	if _, err := s.SetDisabled(ctx, other.ID, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "jane@example.com", pw); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("disabled user: err = %v, want ErrBadCredentials", err)
	}
}

func TestRoleAndDisableRules(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	ctx := context.Background()
	a := mustCreate(t, s, "a@example.com", RoleAdmin)
	b := mustCreate(t, s, "b@example.com", RoleAuditor)

	if _, err := s.SetRole(ctx, a.ID, a.ID, RoleAuditor); !errors.Is(err, ErrSelf) {
		t.Errorf("self-demotion: err = %v", err)
	}
	if _, err := s.SetDisabled(ctx, a.ID, a.ID, true); !errors.Is(err, ErrSelf) {
		t.Errorf("self-disable: err = %v", err)
	}
	// b cannot demote the only admin.
	if _, err := s.SetRole(ctx, b.ID, a.ID, RoleAuditor); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demote last admin: err = %v", err)
	}
	if u, err := s.SetRole(ctx, a.ID, b.ID, RoleAdmin); err != nil || u.Role != RoleAdmin {
		t.Fatalf("promote: %v %v", u, err)
	}
	if u, err := s.SetRole(ctx, b.ID, a.ID, RoleAuditor); err != nil || u.Role != RoleAuditor {
		t.Fatalf("demote with another admin present: %v %v", u, err)
	}
	if _, err := s.SetRole(ctx, b.ID, 999, RoleAdmin); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: err = %v", err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	s, c := newService(t)
	ctx := context.Background()
	admin := mustCreate(t, s, "admin@example.com", RoleAdmin)
	u := mustCreate(t, s, "jane@example.com", RoleAuditor)

	t.Run("idle timeout", func(t *testing.T) {
		id, err := s.StartSession(ctx, u.ID, "127.0.0.1", "test")
		if err != nil {
			t.Fatal(err)
		}
		c.Add(29 * time.Minute)
		if got, _, err := s.ResolveSession(ctx, id); err != nil || got.ID != u.ID {
			t.Fatalf("within idle: %v %v", got, err)
		}
		c.Add(29 * time.Minute) // activity above reset the idle clock
		if _, _, err := s.ResolveSession(ctx, id); err != nil {
			t.Fatalf("after activity: %v", err)
		}
		c.Add(32 * time.Minute) // idle limit plus the minute last activity may be stale
		if _, _, err := s.ResolveSession(ctx, id); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("past idle: err = %v, want ErrSessionExpired", err)
		}
		if _, _, err := s.ResolveSession(ctx, id); !errors.Is(err, ErrNoSession) {
			t.Fatalf("expired session was not deleted: %v", err)
		}
	})
	t.Run("absolute lifetime", func(t *testing.T) {
		id, _ := s.StartSession(ctx, u.ID, "127.0.0.1", "test")
		start := c.Now()
		// Active every 25 minutes (never idle) until just under 12 hours.
		for c.Now().Sub(start)+25*time.Minute < 12*time.Hour {
			c.Add(25 * time.Minute)
			if _, _, err := s.ResolveSession(ctx, id); err != nil {
				t.Fatalf("active session ended after %s: %v", c.Now().Sub(start), err)
			}
		}
		c.Add(25 * time.Minute) // still within the idle limit, but past 12 h
		if _, _, err := s.ResolveSession(ctx, id); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("past lifetime (%s): err = %v, want ErrSessionExpired", c.Now().Sub(start), err)
		}
	})
	t.Run("disabling ends sessions at once", func(t *testing.T) {
		id, _ := s.StartSession(ctx, u.ID, "127.0.0.1", "test")
		if _, err := s.SetDisabled(ctx, admin.ID, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ResolveSession(ctx, id); !errors.Is(err, ErrNoSession) {
			t.Fatalf("disabled user's session: err = %v", err)
		}
	})
	t.Run("sign-out", func(t *testing.T) {
		id, _ := s.StartSession(ctx, admin.ID, "127.0.0.1", "test")
		if err := s.EndSession(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ResolveSession(ctx, id); !errors.Is(err, ErrNoSession) {
			t.Fatalf("after sign-out: err = %v", err)
		}
	})
}

func TestCreateFirstAdminOnlyOnce(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.CreateFirstAdmin(ctx, NewUser{Email: "admin" + string(rune('a'+i)) + "@example.com", Password: pw})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n, _ := s.Count(ctx); created != 1 || n != 1 {
		t.Fatalf("created %d first admins, %d users; want exactly 1", created, n)
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{AccountBurst: 3, AccountRefill: time.Minute, AddressBurst: 5, AddressRefill: 10 * time.Second, Now: c.Now})
	try := func(email, addr, device string) bool {
		_, w := th.Reserve(email, addr, device)
		return w == 0
	}
	for i := range 3 {
		if !try("jane@example.com", "10.0.0.1", "") {
			t.Fatalf("attempt %d throttled early", i)
		}
	}
	if _, w := th.Reserve("JANE@example.com ", "10.0.0.2", ""); w <= 0 || w > time.Minute {
		t.Fatalf("account not throttled after 3 attempts from anywhere: wait %s", w)
	}
	// Another account from the same address still has address budget left.
	if !try("bob@example.com", "10.0.0.1", "") || !try("carol@example.com", "10.0.0.1", "") {
		t.Fatal("other accounts throttled")
	}
	if try("dave@example.com", "10.0.0.1", "") {
		t.Fatal("address not throttled after 5 attempts")
	}
	// A device cookie for the account has its own allowance, past both.
	for i := range 3 {
		if !try("jane@example.com", "10.0.0.1", "device-1") {
			t.Fatalf("device attempt %d throttled", i)
		}
	}
	if try("jane@example.com", "10.0.0.1", "device-1") {
		t.Fatal("a device's own failures are not limited")
	}
	c.Add(time.Minute)
	a, w := th.Reserve("jane@example.com", "10.0.0.9", "")
	if w != 0 {
		t.Fatalf("account still throttled after refill: %s", w)
	}
	a.Succeeded()
	for range 3 {
		try("jane@example.com", "10.0.0.9", "")
	}
	if try("jane@example.com", "10.0.0.9", "") {
		t.Fatal("success must clear only past failures, not disable the throttle")
	}
}

// TestDummyHash: the precomputed hash an unknown e-mail is checked against
// costs what a real password at the production cost does, so starting
// needs no bcrypt work and a sign-in of an unknown user is not faster than
// a known one; other costs get a hash of their own.
func TestDummyHash(t *testing.T) {
	t.Parallel()
	if c, err := bcrypt.Cost([]byte(defaultDummyHash)); err != nil || c != bcrypt.DefaultCost+2 {
		t.Fatalf("default dummy hash cost %d (%v), want the production cost %d", c, err, bcrypt.DefaultCost+2)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(defaultDummyHash), []byte(dummyPassword)); err != nil {
		t.Fatalf("default dummy hash is not of the dummy password: %v", err)
	}
	prod, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(prod.dummyHash()) != defaultDummyHash {
		t.Fatal("the production cost does not use the precomputed hash")
	}
	s, _ := newService(t)
	if c, err := bcrypt.Cost(s.dummyHash()); err != nil || c != bcrypt.MinCost {
		t.Fatalf("dummy hash at cost %d (%v), want %d", c, err, bcrypt.MinCost)
	}
	if _, err := New(nil, Options{BcryptCost: 99}); err == nil {
		t.Fatal("cost 99 accepted")
	}
}

// Reservations are atomic: of many parallel attempts, exactly the
// allowance gets through.
func TestThrottleParallel(t *testing.T) {
	th := NewThrottle(ThrottleOptions{AccountBurst: 5, AddressBurst: 1000})
	var mu sync.Mutex
	var wg sync.WaitGroup
	passed := 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, w := th.Reserve("jane@example.com", "10.0.0.1", ""); w == 0 {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if passed != 5 {
		t.Fatalf("%d of 64 parallel attempts passed, want 5", passed)
	}
}
