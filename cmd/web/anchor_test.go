package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"issuerconsole/app"
	"issuerconsole/db"
	"issuerconsole/services/audit"
)

// anchoredFolder is a data folder with 30 audit rows and a signed
// checkpoint after every 10, as the console writes them.
func anchoredFolder(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	key, err := app.LoadOrCreateAuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := audit.NewStore(d, nil)
	a, err := audit.NewAnchor(st, key, filepath.Join(dir, audit.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := st.Append(ctx, audit.Entry{API: "cashlink", Method: "POST", Path: fmt.Sprintf("/v2/investments/%d", i), Status: 201, Actor: "admin@example.com"}); err != nil {
			t.Fatal(err)
		}
		if (i+1)%10 == 0 {
			if err := a.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// recomputeWithEdit replaces console.db by the log an attacker with write
// access would leave: row 15 changed, and every hash recomputed from it on
// (by appending the same rows to a fresh chain).
func recomputeWithEdit(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "console.db")
	d, err := db.OpenRaw(ctx, path, db.SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	var rows []audit.Entry
	audit.NewStore(d, nil).Each(ctx, audit.Filter{}, func(e audit.Entry) error { rows = append([]audit.Entry{e}, rows...); return nil })
	d.Close()
	forged := filepath.Join(t.TempDir(), "console.db")
	f, err := db.Open(ctx, forged, db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	st := audit.NewStore(f, nil)
	for _, e := range rows {
		if e.ID == 15 {
			e.Actor = "someone-else@example.com"
		}
		e.ID, e.PrevHash, e.Hash = 0, nil, nil
		if _, err := st.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	f.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	f.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if err := os.Rename(forged, path); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyAgainstCheckpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string // in the error; "" = intact
	}{
		{"untouched", nil, ""},
		{"last 10 rows deleted", func(t *testing.T, dir string) {
			d, err := db.OpenRaw(context.Background(), filepath.Join(dir, "console.db"), db.SyncFull)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Exec(`DELETE FROM audit_log WHERE id > 20`); err != nil {
				t.Fatal(err)
			}
		}, "broken at row 21: the log ends at row 20"},
		{"row edited and every hash recomputed", recomputeWithEdit, "broken at row 11: row 20's hash differs"},
		{"checkpoint file deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, audit.CheckpointFile))
		}, "broken at row 1: no checkpoint signed with this key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := anchoredFolder(t)
			if tt.tamper != nil {
				tt.tamper(t, dir)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"audit", "verify", "-data", dir}, noEnv, &out, &out)
			if !strings.Contains(out.String(), "checkpoint key (Ed25519): ") {
				t.Errorf("the public key is not printed: %q", out.String())
			}
			if tt.want == "" {
				if err != nil || !strings.Contains(out.String(), "intact: 30 rows") || !strings.Contains(out.String(), "matches 3 signed checkpoints; the last covers row 30") {
					t.Fatalf("err %v, output %q", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q; output %q", err, tt.want, out.String())
			}
		})
	}
}

// A public key recorded elsewhere catches a replaced key file.
func TestAuditVerifyWithRecordedKey(t *testing.T) {
	t.Parallel()
	dir := anchoredFolder(t)
	other := anchoredFolder(t)
	k, _ := app.ReadAuditKey(other)
	var out bytes.Buffer
	err := run(context.Background(), []string{"audit", "verify", "-data", dir, "-public-key", fmt.Sprintf("%x", []byte(k.Public().(ed25519.PublicKey)))}, noEnv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "is not the one given") {
		t.Fatalf("err %v", err)
	}
}
