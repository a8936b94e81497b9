package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// web is a plain HTTP client of the console (no browser): cookies, and
// the CSRF token of the last page read.
type web struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func newWeb(t *testing.T, base string) *web {
	jar, _ := cookiejar.New(nil)
	return &web{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *web) send(req *http.Request) (*http.Response, *goquery.Document, string) {
	w.t.Helper()
	res, err := w.http.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	doc, _ := goquery.NewDocumentFromReader(bytes.NewReader(b))
	if tok, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value"); ok {
		w.csrf = tok
	}
	return res, doc, string(b)
}

func (w *web) get(path string, hdr ...string) (*http.Response, *goquery.Document) {
	req, _ := http.NewRequest(http.MethodGet, w.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, doc, _ := w.send(req)
	return res, doc
}

func (w *web) post(path string, form url.Values) *http.Response {
	form.Set("_csrf", w.csrf)
	req, _ := http.NewRequest(http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, _, _ := w.send(req)
	return res
}

func (w *web) upload(path string, fields map[string]string, name string, content []byte) *http.Response {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("_csrf", w.csrf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, w.base+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, _, _ := w.send(req)
	return res
}

func (w *web) json(path string, hdr []string, out any) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		w.t.Fatalf("%s: %v", path, err)
	}
}

func (w *web) login(email, pass string) {
	w.t.Helper()
	w.get("/login")
	if res := w.post("/login", url.Values{"email": {email}, "password": {pass}}); res.StatusCode != http.StatusSeeOther {
		w.t.Fatalf("login: %d", res.StatusCode)
	}
	w.get("/")
}

// An import interrupted by SIGKILL at several points continues when the
// binary starts again, and ends with exactly one investment and one credit
// per row, and one upload per document (the rows' own and the shared one),
// in the emulator.
func TestCrashAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts the binary")
	}
	data := t.TempDir()
	args := []string{"-sandbox-investments", "800", "-sandbox-control",
		// Latency stretches the run so the kills land in the middle of it.
		// Half the document uploads are stored but answered 5xx: a kill
		// during the client's backoff leaves an upload done upstream and
		// unrecorded here, which the restart must not repeat.
		"-sandbox-faults", "cashlink POST /api/external/v2/documents/ latency=25ms 5xx-after=0.5; cashlink latency=25ms; cashlink POST 5xx-after=0.05"}
	c := startConsole(t, data, args, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	w := newWeb(t, c.URL)
	w.login(adminEmail, adminPass)

	// 100 accepted/invested investments, mapped round-robin to the seeded
	// Cashlink investors, through the CSV source.
	var list struct {
		Results []struct{ ID int64 } `json:"results"`
	}
	w.json("/sandbox/issuance/api/investments/?status__in=accepted,invested&ordering=id&page_size=100", []string{"Authorization", "Api-Key sandbox-issuance-key"}, &list)
	var info struct {
		Campaigns []struct{ ID string } `json:"campaigns"`
		Investors []struct{ ID string } `json:"investors"`
	}
	w.json("/sandbox/cashlink/_info", nil, &info)
	var csvBody strings.Builder
	csvBody.WriteString("issuance_investment_id,cashlink_investor_id\n")
	for i, inv := range list.Results {
		fmt.Fprintf(&csvBody, "%d,%s\n", inv.ID, info.Investors[i%len(info.Investors)].ID)
	}
	rows := len(list.Results)
	res := w.post("/imports", url.Values{"name": {"crash test"}})
	job := strings.Split(res.Header.Get("Location"), "/")[2]
	w.get("/imports/" + job + "/source")
	if res := w.upload("/imports/"+job+"/source", map[string]string{"kind": "csv"}, "rows.csv", []byte(csvBody.String())); res.StatusCode != 200 {
		t.Fatalf("csv source: %d", res.StatusCode)
	}
	w.post("/imports/"+job+"/mapping", url.Values{"campaign_id": {info.Campaigns[0].ID}, "action": {"save"}})
	// Three rows in four get their own signed PDF (distinct bytes: the
	// wizard refuses the same file twice); every row also gets the shared
	// one. Kills then land among per-row document uploads too.
	// The documents step shows its rows 50 to a page: read every page.
	var rowIDs []string
	for page := 1; len(rowIDs) < rows && page <= rows; page++ {
		_, docPage := w.get(fmt.Sprintf("/imports/%s/documents?page=%d", job, page))
		before := len(rowIDs)
		docPage.Find(`tr[data-testid="documents-row"] input[name="row"]`).Each(func(_ int, s *goquery.Selection) {
			rowIDs = append(rowIDs, s.AttrOr("value", ""))
		})
		if len(rowIDs) == before {
			break
		}
	}
	if len(rowIDs) != rows {
		t.Fatalf("documents step lists %d rows, want %d", len(rowIDs), rows)
	}
	if res := w.upload("/imports/"+job+"/documents", map[string]string{"row": "0"}, "shared.pdf", []byte("%PDF-1.4 crash test shared\n%%EOF")); res.StatusCode != 200 {
		t.Fatalf("shared document: %d", res.StatusCode)
	}
	ownDocs := 0
	for i, id := range rowIDs {
		if i%4 == 3 {
			continue
		}
		pdf := fmt.Appendf(nil, "%%PDF-1.4 crash test row %s\n%%%%EOF", id)
		if res := w.upload("/imports/"+job+"/documents", map[string]string{"row": id}, "signed-"+id+".pdf", pdf); res.StatusCode != 200 {
			t.Fatalf("document of row %s: %d", id, res.StatusCode)
		}
		ownDocs++
	}
	wantDocs := ownDocs + 1
	// Investments the emulator seeded, to tell them from the imported ones.
	seeded := map[string]bool{}
	for _, inv := range cashlinkInvestments(t, w) {
		seeded[inv.ID] = true
	}
	_, doc := w.get("/imports/" + job + "/confirm")
	phrase := strings.TrimSpace(doc.Find(`[data-testid="phrase"]`).Text())
	if phrase != "CREDIT "+strconv.Itoa(rows) {
		t.Fatalf("pre-flight phrase %q: %s", phrase, doc.Find(`[data-testid="preflight-problems"]`).Text())
	}
	confirm := url.Values{"confirm": {phrase}, "preflight": {doc.Find(`input[name="preflight"]`).AttrOr("value", "")}}
	if cur, ok := doc.Find(`[data-testid="currency-accept"]`).Attr("value"); ok {
		confirm.Set("currency", cur)
	}
	if res := w.post("/imports/"+job+"/start", confirm); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("start: %d", res.StatusCode)
	}

	progress := func() (string, string) {
		_, d := w.get("/imports/"+job+"/progress", "HX-Request", "true")
		return d.Find(`[data-testid="run-state"]`).AttrOr("data-code", ""), strings.TrimSpace(d.Find(`[data-testid="progress-text"]`).Text())
	}
	type counts struct{ Documents, Investments, Credits int }
	emulator := func() (at counts) {
		w.json("/sandbox/_control/cashlink/counts", nil, &at)
		return at
	}
	// waitFor polls until the emulator's counts meet cond: each kill lands
	// at a point the test names, however fast or loaded the machine is.
	waitFor := func(what string, cond func(counts) bool) counts {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			at := emulator()
			if cond(at) {
				return at
			}
			if state, text := progress(); state == "done" {
				t.Fatalf("the job finished (%s) before %s: the kill would prove nothing", text, what)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 2 minutes: emulator at %+v\n%s", what, at, c.Output())
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not an ordering
		}
	}
	// Kill at three points, restarting each time on the same data: amid the
	// per-row document uploads, once investments exist, and once credits
	// have begun, each with work left to do.
	var last counts
	kills := []struct {
		what string
		cond func(counts) bool
	}{
		{"a kill amid the document uploads", func(at counts) bool { return at.Documents > 1 && at.Documents < wantDocs }},
		{"a kill once investments exist", func(at counts) bool { return at.Investments > last.Investments && at.Credits < rows }},
		{"a kill once credits have begun", func(at counts) bool { return at.Credits > last.Credits && at.Credits < rows }},
	}
	for i, k := range kills {
		last = waitFor(k.what, k.cond)
		state, text := progress()
		t.Logf("kill %d (%s): job %s, %s; emulator has %d documents, %d investments, %d credits", i+1, k.what, state, text, last.Documents, last.Investments, last.Credits)
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		c = startConsole(t, data, args)
		w.base = c.URL
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		state, text := progress()
		if state == "done" {
			t.Logf("finished after the restarts: %s", text)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done 90 s after the last restart: %s %s\n%s", state, text, c.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, d := w.get("/imports/" + job + "/result")
	d.Find(`tr[data-testid="run-row"]`).Each(func(_ int, s *goquery.Selection) {
		if st, _ := s.Attr("data-state"); st != "done" {
			t.Errorf("row not done: %s", strings.Join(strings.Fields(s.Text()), " "))
		}
	})
	if at := emulator(); at.Investments != rows || at.Credits != rows || at.Documents != wantDocs {
		t.Fatalf("emulator holds %+v for %d rows: want one investment and credit per row, and %d documents (%d rows' own and the shared one)", at, rows, wantDocs, ownDocs)
	}
	// Every imported investment names the shared document; those whose row
	// had its own name it too, and no other investment names that one.
	named := map[string]int{}
	imported := 0
	for _, inv := range cashlinkInvestments(t, w) {
		if seeded[inv.ID] {
			continue
		}
		imported++
		if n := len(inv.SignedDocuments); n < 1 || n > 2 {
			t.Errorf("investment %s names %d documents, want 1 or 2", inv.ID, n)
		}
		for _, d := range inv.SignedDocuments {
			named[d.DocumentID]++
		}
	}
	shared, own := 0, 0
	for id, n := range named {
		switch n {
		case imported:
			shared++
		case 1:
			own++
		default:
			t.Errorf("document %s is named by %d investments", id, n)
		}
	}
	if imported != rows || shared != 1 || own != ownDocs {
		t.Errorf("%d imported investments name %d shared documents and %d own ones, want %d, 1 and %d", imported, shared, own, rows, ownDocs)
	}
	if !strings.Contains(c.Output(), "resuming import job") {
		t.Fatal("the restarted binary did not resume the job")
	}
}

type clInvestment struct {
	ID              string `json:"id"`
	SignedDocuments []struct {
		DocumentID string `json:"document_id"`
	} `json:"signed_documents"`
}

// cashlinkInvestments lists every investment in the Cashlink emulator
// through its API, as the console's client would.
func cashlinkInvestments(t *testing.T, w *web) []clInvestment {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	// The fault rules fail some POSTs, this one included: retry.
	for attempt := 1; tok.AccessToken == ""; attempt++ {
		res, err := w.http.PostForm(w.base+"/sandbox/cashlink/api/external/oauth/token",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"sandbox-client"}, "client_secret": {"sandbox-secret"}})
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(res.Body).Decode(&tok)
		res.Body.Close()
		if tok.AccessToken == "" && attempt == 10 {
			t.Fatalf("cashlink token: %d", res.StatusCode)
		}
	}
	var all []clInvestment
	for page := 1; ; page++ {
		var p struct {
			Next    *string        `json:"next"`
			Results []clInvestment `json:"results"`
		}
		w.json(fmt.Sprintf("/sandbox/cashlink/api/external/v2/investments/?page_size=100&page=%d", page), []string{"Authorization", "Bearer " + tok.AccessToken}, &p)
		all = append(all, p.Results...)
		if p.Next == nil {
			return all
		}
	}
}
