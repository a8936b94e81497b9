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

	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"

	"github.com/PuerkitoBio/goquery"
)

// An auditor crawls every page and export of the console, with personal
// values planted in the emulator's investments (the investors of an
// import) and in the Cashlink request body that created an investor: none
// of them appears anywhere. The admin sees them (so they were planted).
func TestAuditorSeesNoPersonalData(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	ctx := context.Background()
	admin := s.client(t)
	admin.login(adminEmail, adminPass)

	// An import of three investments; their investors' names and e-mails
	// come from the Issuance emulator.
	j := newImportJob(t, s, admin, "personal data")
	j.fromOffering("1", "accepted", "invested")
	r := admin.get(j.path("mapping"))
	fields := url.Values{}
	r.doc.Find(`[data-testid="create-investor"] form`).First().Find("input").Each(func(_ int, in *goqSel) {
		name, _ := in.Attr("name")
		v, _ := in.Attr("value")
		fields.Set(name, v)
	})
	// A natural person with distinctive values, created in Cashlink: the
	// request body is in the audit log.
	planted := map[string]string{"forename": "Zoltanplanted", "surname": "Quimbyplanted", "birth_date": "1911-11-11",
		"birth_place": "Plantville", "street": "Plantedweg 17", "city": "Plantcity", "zip": "47110", "phone": "+49 555 0100 4711",
		"email": "zoltan.planted@example.org", "salutation": "MR", "citizenship": "DEU", "country": "DEU"}
	for k, v := range planted {
		fields.Set(k, v)
	}
	wantStatus(t, admin.post(j.path("mapping/create"), fields), http.StatusOK)
	secrets := []string{}
	for _, k := range []string{"forename", "surname", "birth_date", "birth_place", "street", "city", "phone", "email"} {
		secrets = append(secrets, planted[k], url.QueryEscape(planted[k]))
	}
	// A second import, run to its end: its run and result pages list the
	// investors too.
	inf := sandboxInfo(t, s)
	run := newImportJob(t, s, admin, "run")
	run.fromCSV(investmentsFor(t, s, 0, 2), func(int) string { return inf.Investors[0].ID })
	run.campaign(inf)
	run.sharedDocument()
	run.start()
	run.stopped()

	var investments []int64
	offerings := map[int64]bool{}
	for _, row := range append(j.rows(), run.rows()...) {
		investments = append(investments, row.IssuanceID)
		offerings[row.OfferingID] = true
		for _, v := range []string{row.InvestorName, row.InvestorEmail} {
			if len(v) > 5 {
				secrets = append(secrets, v)
			}
		}
	}
	if len(investments) == 0 || len(secrets) < 20 {
		t.Fatalf("%d investments, %d planted values", len(investments), len(secrets))
	}
	// An admin's Issuance search by e-mail and name, logged with its query,
	// and saved for everyone.
	search := url.Values{"search": {planted["surname"]}, "investor__user__email": {planted["email"]}, "page_size": {"25"}}.Encode()
	admin.get("/investments?" + search)
	wantStatus(t, admin.post("/investments/saved", url.Values{"name": {"by e-mail"}, "query": {search}}), http.StatusSeeOther)

	// The admin does see them: they were planted where the auditor looks.
	var createdRow int64
	s.app.Audit.Each(ctx, audit.Filter{API: "cashlink", Method: "POST"}, func(e audit.Entry) error {
		if strings.Contains(e.RequestBody, planted["forename"]) {
			createdRow = e.ID
		}
		return nil
	})
	if createdRow == 0 {
		t.Fatal("the investor's creation is not in the audit log")
	}
	if r := admin.get(fmt.Sprintf("/audit/%d", createdRow)); !strings.Contains(r.body, planted["birth_date"]) {
		t.Fatal("admins see the bodies as they are")
	}
	if r := admin.get(j.path("review")); !strings.Contains(r.body, j.rows()[0].InvestorName) {
		t.Fatal("admins see the investors' names")
	}

	// The pre-flight names the Cashlink investors it checked: admins see
	// the names, auditors do not.
	pend := newImportJob(t, s, admin, "waiting for its confirmation")
	pend.fromCSV(investmentsFor(t, s, 2, 2), func(int) string { return inf.Investors[0].ID })
	pend.campaign(inf)
	pend.sharedDocument()
	var names []string
	admin.get(pend.path("confirm")).doc.Find(`tr[data-testid="investor-check"] td:first-child`).Each(func(_ int, c *goquery.Selection) {
		if n := text(c); n != "" && n != "—" {
			names = append(names, n)
		}
	})
	if len(names) == 0 {
		t.Fatal("the pre-flight shows admins no investor's name")
	}

	aud := s.client(t)
	aud.login("auditor@example.com", testPass)
	if r := aud.get(pend.path("confirm")); r.StatusCode != http.StatusOK || containsAny(r.body, names) != "" {
		t.Fatalf("the pre-flight shows an auditor the investor name %q (status %d)", containsAny(r.body, names), r.StatusCode)
	}
	// The column chooser cannot add personal columns.
	aud.get("/investments")
	wantStatus(t, aud.post("/investments/columns", url.Values{"col": {"id", "investor_individual_name", "net_worth", "annual_income"}}), http.StatusSeeOther)
	// An auditor's export of the whole search.
	r = aud.post("/investments/export", url.Values{"query": {"offering=1"}})
	wantStatus(t, r, http.StatusSeeOther)
	export := r.Header.Get("Location")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if aud.get(export, "HX-Request", "true").doc.Find(`[data-testid="export-done"]`).Length() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("export did not finish")
		}
	}

	// Every GET route, each parameter filled with every value it can take.
	values := map[string][]string{":id": nil, ":job": {strings.TrimPrefix(export, "/investments/exports/")}}
	s.app.Audit.Each(ctx, audit.Filter{}, func(e audit.Entry) error {
		values[":audit"] = append(values[":audit"], strconv.FormatInt(e.ID, 10))
		return nil
	})
	var urls []string
	for _, rt := range s.app.Server.Routes() {
		if rt.Method != http.MethodGet || rt.Access == "public" {
			continue
		}
		switch {
		case strings.HasPrefix(rt.Path, "/imports/:id"):
			urls = append(urls, strings.Replace(rt.Path, ":id", j.id, 1), strings.Replace(rt.Path, ":id", run.id, 1))
		case rt.Path == "/audit/:id":
			for _, id := range values[":audit"] {
				urls = append(urls, "/audit/"+id)
			}
		case rt.Path == "/investments/:id":
			for _, id := range investments {
				urls = append(urls, "/investments/"+strconv.FormatInt(id, 10))
			}
		case rt.Path == "/offerings/:id":
			for id := range offerings {
				urls = append(urls, "/offerings/"+strconv.FormatInt(id, 10))
			}
		case strings.Contains(rt.Path, ":job"):
			urls = append(urls, strings.Replace(rt.Path, ":job", values[":job"][0], 1))
		case strings.Contains(rt.Path, ":"):
			urls = append(urls, strings.Replace(rt.Path, ":id", "1", 1)) // admin-only pages: refused
		default:
			urls = append(urls, rt.Path)
		}
	}
	urls = append(urls, "/investments?offering=1&page_size=100", "/audit?api=cashlink", "/audit?api=issuance",
		"/audit/export.csv?api=cashlink", "/audit/export.ndjson")
	crawled := 0
	for i, u := range append(urls, urls...) {
		var r *response
		if i < len(urls) {
			r = aud.get(u)
		} else {
			r = aud.get(u, "HX-Request", "true") // the fragments too
		}
		if r.StatusCode >= 500 {
			t.Errorf("GET %s: %d", u, r.StatusCode)
		}
		if r.StatusCode == http.StatusOK {
			crawled++
		}
		for _, secret := range secrets {
			if strings.Contains(r.body, secret) {
				t.Errorf("GET %s (%d) shows the personal value %q to an auditor", u, r.StatusCode, secret)
			}
		}
	}
	if crawled < 30 {
		t.Fatalf("only %d pages read", crawled)
	}
}

// containsAny returns the first of subs found in s, or "".
func containsAny(s string, subs []string) string {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return x
		}
	}
	return ""
}
