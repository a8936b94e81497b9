package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Keys are the secrets generated on first start and kept in the data folder
// (file keys.json, mode 0600). They never leave this machine and are never
// committed: losing them only signs everybody out.
type Keys struct {
	SessionHash  []byte `json:"session_hash"`  // HMAC-SHA256 signing of the session cookie (64 bytes)
	SessionBlock []byte `json:"session_block"` // AES-256 encryption of the session cookie (32 bytes)
	CSRF         []byte `json:"csrf"`          // gorilla/csrf authentication key (32 bytes)
	// SignInActor keys the HMAC that stands in the audit log for an e-mail
	// that names no user (32 bytes). Added later: a key file without it
	// gets one on start.
	SignInActor []byte `json:"sign_in_actor"`
	// Secrets seals the users' TOTP secrets in console.db (AES-256-GCM,
	// 32 bytes), so a copy of the database alone does not give them away.
	Secrets []byte `json:"secrets"`
}

const keysFile = "keys.json"

// LoadOrCreateKeys reads the data folder's key file, creating it on first
// start. A key file readable by others is tightened to 0600 with a warning.
func LoadOrCreateKeys(dir string, log *slog.Logger) (Keys, error) {
	path := filepath.Join(dir, keysFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeys(path)
	}
	if err != nil {
		return Keys{}, fmt.Errorf("read %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("key file was readable by others; setting it to 0600", "path", path, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(path, 0o600); err != nil {
			return Keys{}, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	var k Keys
	if err := json.Unmarshal(b, &k); err != nil {
		return Keys{}, fmt.Errorf("%s is damaged (%v): move it away to generate new keys (everybody will have to sign in again)", path, err)
	}
	if len(k.SessionHash) != 64 || len(k.SessionBlock) != 32 || len(k.CSRF) != 32 {
		return Keys{}, fmt.Errorf("%s has keys of the wrong length: move it away to generate new keys", path)
	}
	// Keys added by later versions are generated into an existing file.
	added := false
	for _, b := range []*[]byte{&k.SignInActor, &k.Secrets} {
		if len(*b) != 32 {
			*b = make([]byte, 32)
			if _, err := rand.Read(*b); err != nil {
				return Keys{}, fmt.Errorf("generate keys: %w", err)
			}
			added = true
		}
	}
	if added {
		if err := writeKeys(path, k); err != nil {
			return Keys{}, err
		}
	}
	return k, nil
}

func createKeys(path string) (Keys, error) {
	k := Keys{SessionHash: make([]byte, 64), SessionBlock: make([]byte, 32), CSRF: make([]byte, 32), SignInActor: make([]byte, 32), Secrets: make([]byte, 32)}
	for _, b := range [][]byte{k.SessionHash, k.SessionBlock, k.CSRF, k.SignInActor, k.Secrets} {
		if _, err := rand.Read(b); err != nil {
			return Keys{}, fmt.Errorf("generate keys: %w", err)
		}
	}
	return k, writeKeys(path, k)
}

func writeKeys(path string, k Keys) error {
	b, _ := json.MarshalIndent(k, "", "  ")
	// Write then rename, so a crash never leaves half a key file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// AuditKeyFile holds the Ed25519 key that signs the audit log's
// checkpoints (mode 0600, beside keys.json). Its public half is shown on the
// audit page and printed by `web audit verify`.
const AuditKeyFile = "audit-key.json"

type auditKeyJSON struct {
	Seed []byte `json:"ed25519_seed"`
}

// LoadOrCreateAuditKey reads the checkpoint signing key, creating it on
// first start.
func LoadOrCreateAuditKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, AuditKeyFile)
	key, err := ReadAuditKey(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("generate audit key: %w", err)
	}
	b, _ := json.MarshalIndent(auditKeyJSON{Seed: seed}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ReadAuditKey reads the checkpoint signing key of a data folder (an error
// wrapping fs.ErrNotExist when there is none).
func ReadAuditKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, AuditKeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var k auditKeyJSON
	if err := json.Unmarshal(b, &k); err != nil || len(k.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is damaged: checkpoints cannot be signed or checked without it", path)
	}
	return ed25519.NewKeyFromSeed(k.Seed), nil
}
