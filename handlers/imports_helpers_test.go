package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/sandbox/cashlink"
	"issuerconsole/services/importer"
)

// importJob is an import an admin walks through the wizard.
type importJob struct {
	t   *testing.T
	s   *testServer
	c   *client
	id  string
	num int64
}

func newImportJob(t *testing.T, s *testServer, c *client, name string) *importJob {
	t.Helper()
	r := c.post("/imports", url.Values{"name": {name}})
	wantStatus(t, r, http.StatusSeeOther)
	id := strings.Split(r.Header.Get("Location"), "/")[2]
	num, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("job id %q", id)
	}
	c.get(r.Header.Get("Location"))
	return &importJob{t: t, s: s, c: c, id: id, num: num}
}

func (j *importJob) path(step string) string { return "/imports/" + j.id + "/" + step }

func (j *importJob) job() importer.Job {
	j.t.Helper()
	job, err := j.s.app.Importer.Store().Job(context.Background(), j.num)
	if err != nil {
		j.t.Fatal(err)
	}
	return job
}

func (j *importJob) rows() []importer.Row {
	j.t.Helper()
	rows, err := j.s.app.Importer.Store().Rows(context.Background(), j.num)
	if err != nil {
		j.t.Fatal(err)
	}
	return rows
}

// fromCSV sets the source: investments, each with its Cashlink investor.
func (j *importJob) fromCSV(ids []int64, investor func(i int) string) {
	j.t.Helper()
	var b strings.Builder
	b.WriteString("issuance_investment_id,cashlink_investor_id\n")
	for i, id := range ids {
		fmt.Fprintf(&b, "%d,%s\n", id, investor(i))
	}
	wantStatus(j.t, j.c.upload(j.path("source"), map[string]string{"kind": "csv"}, "rows.csv", []byte(b.String())), http.StatusOK)
}

func (j *importJob) fromOffering(offering string, statuses ...string) *response {
	j.t.Helper()
	r := j.c.post(j.path("source"), url.Values{"kind": {"offering"}, "offering": {offering}, "status": statuses})
	wantStatus(j.t, r, http.StatusOK)
	return r
}

// campaign saves the mapping step's campaign and product (no investors).
func (j *importJob) campaign(inf cashlink.Info) {
	j.t.Helper()
	j.c.get(j.path("mapping"))
	r := j.c.post(j.path("mapping"), url.Values{"campaign_id": {inf.Campaigns[0].ID}, "product_id": {inf.Products[0].ID}, "action": {"save"}})
	wantStatus(j.t, r, http.StatusOK)
}

func (j *importJob) sharedDocument() {
	j.t.Helper()
	j.c.get(j.path("documents"))
	wantStatus(j.t, j.c.upload(j.path("documents"), map[string]string{"row": "0"}, "shared.pdf", pdf("shared "+j.id)), http.StatusOK)
}

// start types the pre-flight's phrase (deciding on the currency it
// shows) and starts the run.
func (j *importJob) start() {
	j.t.Helper()
	r, phrase, form := preflight(j.t, j.c, j.id)
	if phrase == "" {
		j.t.Fatalf("pre-flight not ready: %s", text(r.doc.Find(`[data-testid="preflight-problems"]`)))
	}
	wantStatus(j.t, j.c.post(j.path("start"), form), http.StatusSeeOther)
}

// stopped waits until the engine no longer runs the job in this process.
func (j *importJob) stopped() {
	j.t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); j.s.app.Importer.Running(j.num); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			j.t.Fatal("the engine still runs the job")
		}
	}
}

// until polls the job's rows until cond holds.
func (j *importJob) until(what string, cond func([]importer.Row) bool) {
	j.t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if cond(j.rows()) {
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func countState(rows []importer.Row, state importer.RowState) int {
	n := 0
	for _, r := range rows {
		if r.State == state {
			n++
		}
	}
	return n
}

// investmentsFor returns accepted or invested investments of the sandbox,
// skipping the first skip of them.
func investmentsFor(t *testing.T, s *testServer, skip, n int) []int64 {
	t.Helper()
	var ids []int64
	i := 0
	for inv, err := range s.app.Issuance.AllInvestments(context.Background(), url.Values{"status__in": {"accepted,invested"}, "ordering": {"id"}}, 100) {
		if err != nil {
			t.Fatal(err)
		}
		if i++; i <= skip {
			continue
		}
		if ids = append(ids, inv.ID); len(ids) == n {
			return ids
		}
	}
	t.Fatalf("only %d investments in the sandbox", len(ids))
	return nil
}

// sandboxInfo returns the seeded Cashlink data; investors with a wallet first.
func sandboxInfo(t *testing.T, s *testServer) cashlink.Info {
	t.Helper()
	inf, err := s.app.Sandbox.Cashlink.Info(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var with, without []cashlink.InfoInvestor
	for _, iv := range inf.Investors {
		if len(iv.Wallets) > 0 {
			with = append(with, iv)
		} else {
			without = append(without, iv)
		}
	}
	if len(with) < 3 || len(inf.Campaigns) == 0 || len(inf.Products) == 0 {
		t.Fatalf("sandbox seed too small: %d investors with a wallet", len(with))
	}
	inf.Investors = append(with, without...)
	return inf
}

func counts(t *testing.T, s *testServer) cashlink.Counts {
	t.Helper()
	n, err := s.app.Sandbox.Cashlink.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
