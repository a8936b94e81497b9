package app

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	k1, err := LoadOrCreateKeys(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keysFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if bytes.Equal(k1.SessionHash[:32], k1.SessionBlock) || len(k1.SessionHash) != 64 {
		t.Fatal("keys not independent random values")
	}
	k2, err := LoadOrCreateKeys(dir, log)
	if err != nil || !bytes.Equal(k1.SessionHash, k2.SessionHash) || !bytes.Equal(k1.CSRF, k2.CSRF) {
		t.Fatal("keys changed across restarts (everybody would be signed out)")
	}
	if k3, _ := LoadOrCreateKeys(t.TempDir(), log); bytes.Equal(k3.SessionHash, k1.SessionHash) {
		t.Fatal("two data folders got the same keys")
	}

	os.Chmod(filepath.Join(dir, keysFile), 0o644)
	if _, err := LoadOrCreateKeys(dir, log); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, keysFile)); fi.Mode().Perm() != 0o600 || !strings.Contains(logs.String(), "readable by others") {
		t.Fatalf("loose key file not tightened (mode %v)", fi.Mode().Perm())
	}

	// A key file from before the sign-in actor key gets one, kept from then on.
	old, _ := json.Marshal(map[string][]byte{"session_hash": k1.SessionHash, "session_block": k1.SessionBlock, "csrf": k1.CSRF})
	os.WriteFile(filepath.Join(dir, keysFile), old, 0o600)
	k4, err := LoadOrCreateKeys(dir, log)
	if err != nil || len(k4.SignInActor) != 32 || len(k4.Secrets) != 32 || !bytes.Equal(k4.SessionHash, k1.SessionHash) {
		t.Fatalf("upgrading an old key file: %v (actor key %d bytes)", err, len(k4.SignInActor))
	}
	if k5, _ := LoadOrCreateKeys(dir, log); !bytes.Equal(k5.SignInActor, k4.SignInActor) {
		t.Fatal("the added key was not saved")
	}

	os.WriteFile(filepath.Join(dir, keysFile), []byte("{not json"), 0o600)
	if _, err := LoadOrCreateKeys(dir, log); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged key file: err = %v", err)
	}
}
