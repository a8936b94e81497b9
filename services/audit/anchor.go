package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
)

// The chain proves that no row was changed in place, but not that the
// newest rows are still there, nor that someone with write access to
// console.db did not rewrite a row and recompute every hash after it.
// Checkpoints close that gap: the console signs its chain head with an
// Ed25519 key kept beside keys.json and appends the signed statement to a
// file outside the database. Verification then checks the chain against
// every checkpoint.

// Checkpoint is a signed statement: "row Row of the chain had hash Hash at At".
type Checkpoint struct {
	Row  int64     `json:"row"`
	Hash string    `json:"hash"` // hex SHA-256 of the row, as in the chain
	At   time.Time `json:"at"`
	Key  string    `json:"key"` // hex Ed25519 public key that signed it
	Sig  string    `json:"sig"` // base64 Ed25519 signature of message()
}

// message is what the signature covers.
func (c Checkpoint) message() []byte {
	return []byte("issuer-console audit checkpoint v1\nrow=" + strconv.FormatInt(c.Row, 10) + "\nhash=" + c.Hash +
		"\nat=" + c.At.UTC().Format(time.RFC3339Nano) + "\n")
}

// SignCheckpoint signs row's hash at time at.
func SignCheckpoint(key ed25519.PrivateKey, row int64, hash []byte, at time.Time) Checkpoint {
	c := Checkpoint{Row: row, Hash: hex.EncodeToString(hash), At: at.UTC(), Key: hex.EncodeToString(key.Public().(ed25519.PublicKey))}
	c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c.message()))
	return c
}

// Valid reports whether pub signed c.
func (c Checkpoint) Valid(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(c.Sig)
	return err == nil && c.Key == hex.EncodeToString(pub) && ed25519.Verify(pub, c.message(), sig)
}

// ReadCheckpoints reads checkpoints, one JSON object a line: the lines of
// the checkpoint file, or the lines {"checkpoint": {...}} of an NDJSON
// export (its other lines are skipped), so a kept export can be checked
// against too. A torn last line (a crash mid-write) is skipped.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // export lines hold whole bodies
	var out []Checkpoint
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		raw := line
		if inner, ok := m["checkpoint"]; ok {
			raw = inner
		} else if _, ok := m["sig"]; !ok {
			continue
		}
		var c Checkpoint
		if json.Unmarshal(raw, &c) == nil {
			out = append(out, c)
		}
	}
	return out, sc.Err()
}

// LoadCheckpoints reads the checkpoint file at path; a missing file has none.
func LoadCheckpoints(path string) ([]Checkpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	defer f.Close()
	return ReadCheckpoints(f)
}

// Anchor writes signed checkpoints of a store's chain head to an
// append-only file.
type Anchor struct {
	store *Store
	key   ed25519.PrivateKey
	path  string

	mu   sync.Mutex
	last []byte // hash of the last checkpoint written
}

// CheckpointFile is the checkpoint file's name in the data folder.
const CheckpointFile = "audit-checkpoints.jsonl"

// NewAnchor writes checkpoints of store signed with key to path.
func NewAnchor(store *Store, key ed25519.PrivateKey, path string) (*Anchor, error) {
	a := &Anchor{store: store, key: key, path: path}
	cps, err := LoadCheckpoints(path)
	if err != nil {
		return nil, err
	}
	if n := len(cps); n > 0 {
		a.last, _ = hex.DecodeString(cps[n-1].Hash)
	}
	// A crash mid-write can leave a last line without its newline: end it,
	// so the next checkpoint is a line of its own.
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		_, werr := f.Write([]byte{'\n'})
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return a, nil
}

// PublicKey is the key that verifies the checkpoints.
func (a *Anchor) PublicKey() ed25519.PublicKey { return a.key.Public().(ed25519.PublicKey) }

// Path is the checkpoint file.
func (a *Anchor) Path() string { return a.path }

// Checkpoints reads back every checkpoint written so far.
func (a *Anchor) Checkpoints() ([]Checkpoint, error) { return LoadCheckpoints(a.path) }

// Checkpoint signs the current chain head and appends it to the file,
// fsynced, unless the head has not moved since the last checkpoint (an
// empty log is anchored too, so the file exists from the first start).
func (a *Anchor) Checkpoint(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	row, hash, err := a.store.Head(ctx)
	if err != nil {
		return err
	}
	if a.last != nil && bytes.Equal(a.last, hash) {
		return nil
	}
	line, _ := json.Marshal(SignCheckpoint(a.key, row, hash, a.store.now()))
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	a.last = hash
	return nil
}

// Run writes a checkpoint every interval while the head moves, until ctx
// ends.
func (a *Anchor) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}
