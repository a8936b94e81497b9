// Package export writes every investment matching a search to a CSV file
// in the background, page by page (constant memory), with progress that the
// page polls. The finished file is streamed to the browser.
package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"issuerconsole/services/audit"
	"issuerconsole/services/csvsafe"
	"issuerconsole/services/issuance"
)

// Column is one column of the export.
type Column struct {
	Name     string
	Personal bool // only admins export it
	Num      bool // a number: left as is when it is one (every other cell is guarded against formulas)
	Value    func(issuance.Investment) string
}

// State of a job.
type State string

const (
	Running State = "running"
	Done    State = "done"
	Failed  State = "failed"
)

// Job is one export.
type Job struct {
	ID       string
	Owner    int64
	Query    string
	Personal bool
	Started  time.Time

	mu       sync.Mutex
	total    int
	done     int
	state    State
	err      string
	path     string
	finished time.Time
}

// Progress is a snapshot of a job.
type Progress struct {
	Total, Done int
	State       State
	Err         string
	Finished    time.Time
}

// Progress returns the job's current state.
func (j *Job) Progress() Progress {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Progress{Total: j.total, Done: j.done, State: j.state, Err: j.err, Finished: j.finished}
}

// Path is the finished file ("" until done).
func (j *Job) Path() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Done {
		return ""
	}
	return j.path
}

// Manager runs export jobs and forgets them (and their files) after Keep.
type Manager struct {
	dir     string
	client  *issuance.Client
	columns []Column
	log     *slog.Logger
	Keep    time.Duration

	mu   sync.Mutex
	jobs map[string]*Job
	wg   sync.WaitGroup
	base context.Context
}

// NewManager writes files under dir (created, and emptied of old exports).
func NewManager(ctx context.Context, dir string, client *issuance.Client, columns []Column, log *slog.Logger) (*Manager, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("export folder: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "export-*.csv*"))
	for _, f := range old {
		os.Remove(f) // jobs do not survive a restart; their files need not either
	}
	return &Manager{dir: dir, client: client, columns: columns, log: log, Keep: time.Hour, jobs: map[string]*Job{}, base: ctx}, nil
}

// Start begins exporting the rows of query for owner. Personal-data columns
// are included only when personal is true (admins).
func (m *Manager) Start(ctx context.Context, owner int64, query url.Values, personal bool) (*Job, error) {
	b := make([]byte, 12)
	rand.Read(b)
	j := &Job{ID: hex.EncodeToString(b), Owner: owner, Query: query.Encode(), Personal: personal, Started: time.Now().UTC(), state: Running}
	m.mu.Lock()
	m.gc()
	m.jobs[j.ID] = j
	m.mu.Unlock()
	// The job outlives the request that started it, but keeps its actor for
	// the audit log and stops when the console shuts down.
	jctx := audit.WithActor(m.base, audit.ActorFrom(ctx))
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.run(jctx, j, query)
	}()
	return j, nil
}

// Get returns a job of owner (admins may see all).
func (m *Manager) Get(id string, owner int64, admin bool) (*Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || (j.Owner != owner && !admin) {
		return nil, false
	}
	return j, true
}

// Wait blocks until running jobs end (after the base context is cancelled).
func (m *Manager) Wait() { m.wg.Wait() }

// gc drops jobs finished longer than Keep ago, with their files.
func (m *Manager) gc() {
	for id, j := range m.jobs {
		p := j.Progress()
		if p.State != Running && time.Since(p.Finished) > m.Keep {
			os.Remove(j.path)
			delete(m.jobs, id)
		}
	}
}

// Columns returns the columns an export with or without personal data has.
func (m *Manager) Columns(personal bool) []Column {
	var out []Column
	for _, c := range m.columns {
		if c.Personal && !personal {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (m *Manager) run(ctx context.Context, j *Job, query url.Values) {
	fail := func(err error) {
		j.mu.Lock()
		j.state, j.err, j.finished = Failed, err.Error(), time.Now().UTC()
		j.mu.Unlock()
		m.log.Warn("export failed", "job", j.ID, "err", err)
	}
	tmp := filepath.Join(m.dir, "export-"+j.ID+".csv.part")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		fail(err)
		return
	}
	defer f.Close()
	cols := m.Columns(j.Personal)
	sheet := make([]csvsafe.Column, len(cols))
	for i, c := range cols {
		sheet[i] = csvsafe.Column{Name: c.Name, Numeric: c.Num}
	}
	w := csvsafe.NewWriter(f, sheet)
	w.WriteHeader()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Del("page")
	q.Set("page_size", "100")
	page, err := m.client.ListInvestmentsQuery(ctx, q)
	for {
		if err != nil {
			os.Remove(tmp)
			fail(fmt.Errorf("reading from the Issuance API: %w", err))
			return
		}
		j.SetTotal(page.Count)
		for _, inv := range page.Results {
			rec := make([]string, len(cols))
			for i, c := range cols {
				rec[i] = c.Value(inv)
			}
			if err := w.Write(rec); err != nil {
				os.Remove(tmp)
				fail(err)
				return
			}
		}
		j.mu.Lock()
		j.done += len(page.Results)
		j.mu.Unlock()
		if page.Next == nil {
			break
		}
		page, err = m.client.InvestmentsPage(ctx, page.Next)
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		fail(err)
		return
	}
	final := filepath.Join(m.dir, "export-"+j.ID+".csv")
	if err := os.Rename(tmp, final); err != nil {
		fail(err)
		return
	}
	j.mu.Lock()
	j.state, j.path, j.finished, j.total = Done, final, time.Now().UTC(), j.done
	j.mu.Unlock()
}

// SetTotal records the expected number of rows (from the first page's count).
func (j *Job) SetTotal(n int) {
	j.mu.Lock()
	j.total = n
	j.mu.Unlock()
}
