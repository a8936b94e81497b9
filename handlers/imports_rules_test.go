package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"issuerconsole/sandbox/cashlink"
	"issuerconsole/services/importer"
)

// An action the job's state does not allow is a 409 in words (from the
// transition table), as a page and as an htmx flash; an unknown job is a
// 404; nothing changes.
func TestImportConflictsInWords(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "conflicts")
	j.fromCSV(investmentsFor(t, s, 0, 1), func(int) string { return inf.Investors[0].ID })
	j.campaign(inf)
	j.sharedDocument()
	j.start()
	waitJob(t, c, j.id, time.Minute)
	j.stopped()
	if st := j.job().State; st != importer.JobDone {
		t.Fatalf("job %s", st)
	}
	for _, tc := range []struct {
		method, path, want string
		form               url.Values
	}{
		{http.MethodPost, j.path("pause"), "This import is done: it cannot be paused.", nil},
		{http.MethodPost, j.path("resume"), "This import is done: it cannot be resumed.", nil},
		{http.MethodPost, j.path("cancel"), "This import is done: it cannot be cancelled.", url.Values{"confirm": {"yes"}}},
		{http.MethodGet, j.path("cancel"), "This import is done: it cannot be cancelled.", nil},
		{http.MethodPost, j.path("start"), "This import is done: it cannot be started.", url.Values{"confirm": {"CREDIT 1"}}},
		{http.MethodPost, j.path("rows/" + fmt.Sprint(j.rows()[0].ID) + "/skip"), "This import has started", url.Values{"skip": {"true"}}},
		{http.MethodPost, j.path("documents/meta"), "This import has started", url.Values{"category": {"c"}, "subject": {"s"}}},
	} {
		var r *response
		if tc.method == http.MethodGet {
			r = c.get(tc.path)
		} else {
			r = c.post(tc.path, tc.form)
		}
		wantStatus(t, r, http.StatusConflict)
		if msg := text(r.doc.Find("main")); !strings.Contains(msg, tc.want) || strings.Contains(msg, "job "+j.id) {
			t.Errorf("%s %s: %q, want %q in words", tc.method, tc.path, msg, tc.want)
		}
		// htmx: the same words in the page's message area.
		var fr *response
		if tc.method == http.MethodGet {
			fr = c.get(tc.path, "HX-Request", "true")
		} else {
			fr = c.post(tc.path, tc.form, "HX-Request", "true")
		}
		if fr.StatusCode != http.StatusConflict || fr.Header.Get("HX-Retarget") != "#flash" || !strings.Contains(fr.body, tc.want) {
			t.Errorf("htmx %s %s: %d %q", tc.method, tc.path, fr.StatusCode, fr.body)
		}
	}
	if st := j.job().State; st != importer.JobDone {
		t.Fatalf("refused actions changed the job: %s", st)
	}
	wantStatus(t, c.post("/imports/999999/pause", nil), http.StatusNotFound)
	wantStatus(t, c.get("/imports/999999/run"), http.StatusNotFound)
}

// A job cancelled while its credited rows wait for delivery shows, on its
// result page, what Cashlink says of them now: read back, not frozen at
// the last answer before the cancel.
func TestCancelledJobShowsCashlinksTruth(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(_ *configT, o *appOptions) {
		// The second pass, which would see the delivery, comes after the cancel.
		o.Import = importer.Options{PassBackoff: 10 * time.Second}
	})
	st := s.app.Sandbox.Cashlink.Settings()
	st.CreditDelay = cashlink.Duration(3 * time.Second)
	if err := s.app.Sandbox.Cashlink.SetSettings(st); err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "cancelled while waiting")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(i int) string { return inf.Investors[i].ID })
	j.campaign(inf)
	j.sharedDocument()
	j.start()
	j.until("both rows credited, waiting for delivery", func(rows []importer.Row) bool { return countState(rows, importer.RowWaiting) == 2 })
	wantStatus(t, c.post(j.path("cancel"), url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
	j.stopped()
	for _, r := range j.rows() {
		if r.State != importer.RowWaiting || r.FinalStatus == "DELIVERED" {
			t.Fatalf("before the read-back: %s %s", r.State, r.FinalStatus)
		}
	}
	// The emulator delivers shortly after the credit; the result page reads it back.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.get(j.path("result"))
		wantStatus(t, r, http.StatusOK)
		var got []string
		r.doc.Find(`tr[data-testid="run-row"]`).Each(func(_ int, tr *goqSel) {
			got = append(got, tr.AttrOr("data-state", "")+" "+tr.Find("td").Eq(6).Find("[data-code]").AttrOr("data-code", ""))
		})
		if strings.Join(got, ",") == "done DELIVERED,done DELIVERED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("result rows %v, want Cashlink's DELIVERED read back", got)
		}
	}
	if st := j.job().State; st != importer.JobCancelled {
		t.Fatalf("the read-back changed the job: %s", st)
	}
}

// BenchmarkProgressPoll measures one progress poll (the htmx fragment the
// run page fetches every second) of a running job with 50 rows and one
// with 5,000, in the same run: server time and bytes. The counts come from
// one GROUP BY and only the visible page of rows is read and rendered, so
// the two should cost about the same.
func BenchmarkProgressPoll(b *testing.B) {
	s := newTestServer(b)
	c := s.client(b)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	st := s.app.Importer.Store()
	admin, err := s.app.Accounts.Authenticate(ctx, adminEmail, adminPass)
	if err != nil {
		b.Fatal(err)
	}
	job := func(n int) int64 {
		j, err := st.CreateJob(ctx, fmt.Sprint(n, " rows"), admin.ID)
		if err != nil {
			b.Fatal(err)
		}
		rows := make([]importer.Row, n)
		for i := range rows {
			rows[i] = importer.Row{IssuanceID: int64(n*100000 + i), Reference: fmt.Sprintf("REF-%d", i), InvestorName: "Jane Doe",
				CashlinkInvestor: "cl-1", Units: 10, SignedAt: time.Now()}
		}
		if err := st.ReplaceRows(ctx, j.ID, rows); err != nil {
			b.Fatal(err)
		}
		if err := st.Confirm(ctx, j.ID, admin.ID); err != nil { // running, but no engine: the rows stay as they are
			b.Fatal(err)
		}
		return j.ID
	}
	medians := map[int]float64{}
	for _, n := range []int{50, 5000} {
		id := job(n)
		b.Run(fmt.Sprint("rows=", n), func(b *testing.B) {
			var ds []time.Duration
			var size int
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/imports/%d/progress", s.URL, id), nil)
				req.Header.Set("HX-Request", "true")
				t0 := time.Now()
				res, err := c.http.Do(req)
				if err != nil || res.StatusCode != http.StatusOK {
					b.Fatalf("poll: %v %v", res, err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				ds = append(ds, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				size = len(body)
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			m := float64(ds[len(ds)/2].Microseconds()) / 1000
			medians[n] = m
			b.ReportMetric(m, "median-ms")
			b.ReportMetric(float64(size), "bytes/poll")
			if base := medians[50]; base > 0 && n != 50 {
				b.ReportMetric(m/base, "x-50-rows")
			}
		})
	}
}

// The run page and its poll show one page of rows (50), with a pager, and
// the counts of all of them.
func TestRunPageIsPaged(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	st := s.app.Importer.Store()
	admin, err := s.app.Accounts.Authenticate(ctx, adminEmail, adminPass)
	if err != nil {
		t.Fatal(err)
	}
	j, err := st.CreateJob(ctx, "paged", admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]importer.Row, 120)
	for i := range rows {
		rows[i] = importer.Row{IssuanceID: int64(900000 + i), Reference: fmt.Sprintf("REF-%03d", i+1), CashlinkInvestor: "cl-1", Units: 1, SignedAt: time.Now()}
	}
	if err := st.ReplaceRows(ctx, j.ID, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.Confirm(ctx, j.ID, admin.ID); err != nil { // running, no engine: the rows stay pending
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path        string
		n           int
		first, last string
	}{
		{fmt.Sprintf("/imports/%d/run", j.ID), 50, "REF-001", "REF-050"},
		{fmt.Sprintf("/imports/%d/run?page=3", j.ID), 20, "REF-101", "REF-120"},
		{fmt.Sprintf("/imports/%d/progress?page=2", j.ID), 50, "REF-051", "REF-100"},
	} {
		r := c.get(tc.path, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		trs := r.doc.Find(`tr[data-testid="run-row"]`)
		if trs.Length() != tc.n || text(trs.First().Find("td").First()) != tc.first || text(trs.Last().Find("td").First()) != tc.last {
			t.Errorf("%s: %d rows, %s … %s", tc.path, trs.Length(), text(trs.First().Find("td").First()), text(trs.Last().Find("td").First()))
		}
		if !strings.Contains(text(r.doc.Find(`[data-testid="progress-text"]`)), "0 of 120 rows finished") || r.doc.Find(`[data-testid="pager"]`).Length() != 1 {
			t.Errorf("%s: counts %q, pager %d", tc.path, text(r.doc.Find(`[data-testid="progress-text"]`)), r.doc.Find(`[data-testid="pager"]`).Length())
		}
	}
	// The poll of page 3 keeps polling page 3.
	if poll, _ := c.get(fmt.Sprintf("/imports/%d/run?page=3", j.ID)).doc.Find("#run-progress").Attr("hx-get"); poll != fmt.Sprintf("/imports/%d/progress?page=3", j.ID) {
		t.Errorf("poll of page 3: %q", poll)
	}
}
