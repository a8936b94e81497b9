package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rechain recomputes every row's links and hashes, as someone with write
// access to console.db would after editing a row.
func rechain(t *testing.T, s *Store) {
	t.Helper()
	var all []Entry
	if err := s.Each(context.Background(), Filter{}, func(e Entry) error { all = append([]Entry{e}, all...); return nil }); err != nil {
		t.Fatal(err)
	}
	prev := genesis
	for _, e := range all {
		e.PrevHash = prev
		e.Hash = chainHash(prev, &e)
		if _, err := s.db.Exec(`UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?`, e.PrevHash, e.Hash, e.ID); err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
}

func TestCheckpointsCatchTruncationAndRewrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *Store, file string)
		broken int64  // 0 = intact
		reason string // part of the reason
	}{
		{"untouched", nil, 0, ""},
		{"last 10 rows deleted", func(t *testing.T, s *Store, _ string) {
			s.db.Exec(`DELETE FROM audit_log WHERE id > 20`)
		}, 21, "removed from the end"},
		{"row edited and every hash recomputed", func(t *testing.T, s *Store, _ string) {
			s.db.Exec(`UPDATE audit_log SET actor = 'someone-else' WHERE id = 15`)
			rechain(t, s)
		}, 11, "rewritten after row 10"},
		{"checkpoint file deleted", func(t *testing.T, _ *Store, file string) {
			os.Remove(file)
		}, 1, "no checkpoint signed with this key"},
		{"checkpoint file replaced with another key's", func(t *testing.T, s *Store, file string) {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			s.db.Exec(`DELETE FROM audit_log WHERE id > 20`)
			line, _ := json.Marshal(SignCheckpoint(other, 20, must(s.Head(ctx)), s.now()))
			os.WriteFile(file, append(line, '\n'), 0o600)
		}, 1, "no checkpoint signed with this key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newStore(t)
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			file := filepath.Join(t.TempDir(), CheckpointFile)
			a, err := NewAnchor(s, key, file)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				if _, err := s.Append(ctx, Entry{API: "cashlink", Method: "POST", Path: fmt.Sprintf("/v2/x/%d", i), Status: 201}); err != nil {
					t.Fatal(err)
				}
				if (i+1)%10 == 0 {
					if err := a.Checkpoint(ctx); err != nil {
						t.Fatal(err)
					}
					a.Checkpoint(ctx) // the head did not move: no new line
				}
			}
			if tt.tamper != nil {
				tt.tamper(t, s, file)
			}
			plain, err := s.Verify(ctx)
			if err != nil || !plain.Intact {
				t.Fatalf("the chain alone must look intact (that is the gap): %+v %v", plain, err)
			}
			cps, err := a.Checkpoints()
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.VerifyAnchored(ctx, cps, a.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if tt.broken == 0 {
				if !res.Intact || res.Checkpoints != 3 || res.AnchorRow != 30 {
					t.Fatalf("untouched log: %+v", res)
				}
				return
			}
			if res.Intact || res.BrokenID != tt.broken || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("got intact=%v broken=%d %q; want row %d, %q", res.Intact, res.BrokenID, res.Reason, tt.broken, tt.reason)
			}
		})
	}
}

func must(_ int64, h []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return h
}

// An NDJSON export's checkpoint lines read back as checkpoints; rows and a
// torn last line are skipped.
func TestReadCheckpointsFromExport(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c := SignCheckpoint(key, 7, bytes.Repeat([]byte{1}, 32), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	line, _ := json.Marshal(map[string]any{"checkpoint": c})
	plain, _ := json.Marshal(c)
	in := `{"chain_head":{"id":7}}` + "\n" + `{"id":"3","actor":"x"}` + "\n" + string(line) + "\n" + string(plain) + "\n" + `{"row":8,"sig":"tor`
	got, err := ReadCheckpoints(strings.NewReader(in))
	if err != nil || len(got) != 2 || !got[0].Valid(key.Public().(ed25519.PublicKey)) || !got[1].Valid(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("%d checkpoints %+v, err %v", len(got), got, err)
	}
}

// A checkpoint line torn by a crash is skipped, and the next checkpoint is
// a line of its own.
func TestCheckpointAfterTornLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	file := filepath.Join(t.TempDir(), CheckpointFile)
	a, _ := NewAnchor(s, key, file)
	s.Append(ctx, Entry{API: "cashlink", Method: "GET", Path: "/v2/x", Status: 200})
	if err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0o600)
	f.WriteString(`{"row":2,"hash":"ab`)
	f.Close()
	s.Append(ctx, Entry{API: "cashlink", Method: "GET", Path: "/v2/y", Status: 200})
	a, err := NewAnchor(s, key, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cps, _ := a.Checkpoints()
	res, err := s.VerifyAnchored(ctx, cps, a.PublicKey())
	if err != nil || len(cps) != 2 || !res.Intact || res.AnchorRow != 2 {
		t.Fatalf("%d checkpoints, %+v, %v", len(cps), res, err)
	}
}

// Run signs the head every interval once it moved, and stops with its
// context.
func TestAnchorRunWritesWhenTheHeadMoves(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, _ := newStore(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	a, _ := NewAnchor(s, key, filepath.Join(t.TempDir(), CheckpointFile))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, time.Millisecond, func(err error) { t.Error(err) })
	}()
	e, err := s.Append(ctx, Entry{API: "cashlink", Method: "GET", Path: "/v2/x", Status: 200})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		cps, _ := a.Checkpoints()
		if len(cps) > 0 && cps[len(cps)-1].Row == e.ID {
			for i := 1; i < len(cps); i++ {
				if cps[i].Hash == cps[i-1].Hash {
					t.Fatalf("checkpoint %d repeats a head that did not move", i)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint of the new head")
		}
	}
	cancel()
	<-done
}
