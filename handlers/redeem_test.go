package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/sandbox/cashlink"
	"issuerconsole/sandbox/faults"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	clclient "issuerconsole/services/cashlink"
	"issuerconsole/services/personal"
)

// fundInvestor gives a seeded Cashlink investor a delivered investment of
// units through the client, as an earlier import would have, and returns
// the investor, product and wallet ids.
func fundInvestor(t *testing.T, s *testServer, units int64) (investor, product, wallet string) {
	t.Helper()
	ctx := context.Background()
	inf, err := s.app.Sandbox.Cashlink.Info(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var camp cashlink.InfoCampaign
	for _, c := range inf.Campaigns {
		if c.NaturalPersonsAllowed && c.IsCampaignActive {
			camp = c
			break
		}
	}
	for _, iv := range inf.Investors {
		if len(iv.Wallets) > 0 {
			investor, wallet = iv.ID, iv.Wallets[0].ID
			break
		}
	}
	if camp.ID == "" || investor == "" {
		t.Fatalf("no seeded campaign or investor with a wallet: %+v", inf)
	}
	cl := s.app.Cashlink
	doc, err := cl.UploadDocument(ctx, "test-fund-doc", "signed.pdf", pdf("fund"), "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	inv, err := cl.CreateInvestment(ctx, "test-fund-investment", clclient.NewInvestment{CampaignID: camp.ID, InvestorID: investor, Units: units,
		SignedAt: now, AcceptedAt: &now, PaidAt: &now, Wallet: wallet,
		SignedDocuments: []clclient.SignedDocument{{DocumentID: doc.ID, Category: "subscription", Subject: "signed"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Credit(ctx, "test-fund-credit", inv.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		got, err := cl.GetInvestment(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == clclient.StatusDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("investment still %s", got.Status)
		}
	}
	return investor, camp.ProductID, wallet
}

// fastCashlinkServer is a test server whose Cashlink emulator settles
// credits and redemptions after delay, and whose client retries briefly.
func fastCashlinkServer(t *testing.T, delay time.Duration) *testServer {
	t.Helper()
	s := newTestServer(t, func(c *configT, o *appOptions) {
		o.ClientRetry = apiclient.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	})
	set := s.app.Sandbox.Cashlink.Settings()
	set.CreditDelay = cashlink.Duration(delay)
	if err := s.app.Sandbox.Cashlink.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	return s
}

// redemptionRows reads the redemptions table as a user sees it.
func redemptionRows(r *response) []map[string]string {
	var out []map[string]string
	r.doc.Find(`[data-testid="redemption-row"]`).Each(func(_ int, tr *goqSel) {
		td := tr.Find("td")
		out = append(out, map[string]string{"id": text(td.Eq(0)), "units": text(td.Eq(5)), "status": tr.Find(`[data-testid="redemption-status"]`).AttrOr("data-code", ""),
			"cashlink": text(td.Eq(7)), "now": text(td.Eq(8)), "check": strconv.Itoa(tr.Find(`form button`).Length())})
	})
	return out
}

// waitRedemption reloads the page until redemption id has left "processing".
func waitRedemption(t *testing.T, c *client, id string) map[string]string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(30 * time.Millisecond) {
		r := c.get("/imports/redeem")
		wantStatus(t, r, http.StatusOK)
		for _, row := range redemptionRows(r) {
			if row["id"] == id && row["status"] != "processing" {
				return row
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redemption %s still processing: %v", id, redemptionRows(r))
		}
	}
}

// redeemForm is the redemption form as a browser sends it: the investor,
// the product and wallet chosen (one radio button), units, confirmation.
func redeemForm(investor, product, wallet string, units int, confirm string) url.Values {
	return url.Values{"investor": {investor}, "holding": {product + " " + wallet}, "units": {strconv.Itoa(units)}, "confirm": {confirm}}
}

// Redemptions through the form: confirmation, FIFO balance errors, the
// asynchronous outcome read back, "unknown" shown for investigation and
// never re-sent, and a lost answer checked again under the same key.
func TestRedemptions(t *testing.T) {
	t.Parallel()
	s := fastCashlinkServer(t, 50*time.Millisecond)
	emu := s.app.Sandbox.Cashlink
	investor, product, wallet := fundInvestor(t, s, 100)
	ctx := context.Background()
	redemptions := func() int {
		c, err := emu.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c.Redemptions
	}

	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/imports/redeem")
	wantStatus(t, r, http.StatusOK)

	// A wrong confirmation sends nothing.
	r = c.post("/imports/redeem", redeemForm(investor, product, wallet, 30, "REDEEM 300"))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="error-confirm"]`)); got != "The confirmation does not match: type REDEEM 30." {
		t.Fatalf("error %q", got)
	}
	if v, _ := r.doc.Find(`#r-units`).Attr("value"); v != "30" {
		t.Fatalf("the form lost what was typed: units %q", v)
	}
	if n := redemptions(); n != 0 {
		t.Fatalf("%d redemptions after a refused confirmation", n)
	}

	// More than the balance, with the balance unreadable (so only
	// Cashlink checks): Cashlink refuses, the user reads why, next to the
	// units, with the form as it was sent.
	rules, err := faults.ParseRules("cashlink GET /api/external/v2/investments/ 5xx=1 status=503")
	if err != nil {
		t.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
	r = c.post("/imports/redeem", redeemForm(investor, product, wallet, 1_000_000_000, "REDEEM 1000000000"))
	s.app.Sandbox.Faults.Set(nil)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="error-units"]`)); !strings.Contains(got, "Insufficient balance") {
		t.Fatalf("Cashlink's refusal next to the units: %q (page: %s)", got, text(r.doc.Find("main")))
	}
	if v, _ := r.doc.Find(`#r-units`).Attr("value"); v != "1000000000" {
		t.Fatalf("units not kept after Cashlink refused: %q", v)
	}
	if v := r.doc.Find(`#r-confirm`).AttrOr("value", ""); v != "REDEEM 1000000000" {
		t.Fatalf("confirmation not kept after Cashlink refused: %q", v)
	}
	if v := r.doc.Find(`input[name="holding"][checked]`).AttrOr("value", ""); v != product+" "+wallet {
		t.Fatalf("product and wallet not kept after Cashlink refused: %q", v)
	}
	if v := r.doc.Find(`input[name="investor"]`).AttrOr("value", ""); v != investor {
		t.Fatalf("investor not kept after Cashlink refused: %q", v)
	}
	rows := redemptionRows(r)
	if len(rows) != 1 || rows[0]["status"] != "rejected" || !strings.Contains(strings.ToLower(rows[0]["now"]), "balance") {
		t.Fatalf("over-balance redemption: %v", rows)
	}
	if n := redemptions(); n != 0 {
		t.Fatalf("a refused redemption exists in Cashlink: %d", n)
	}

	// A redemption within the balance ends in success, read back by the page.
	r = c.post("/imports/redeem", redeemForm(investor, product, wallet, 30, "REDEEM 30"))
	wantStatus(t, r, http.StatusSeeOther)
	first := redemptionRows(c.get("/imports/redeem"))[0]
	if first["cashlink"] == "" {
		t.Fatalf("no Cashlink id: %v", first)
	}
	if row := waitRedemption(t, c, first["id"]); row["status"] != "success" || row["check"] != "0" {
		t.Fatalf("redemption: %v", row)
	}

	// Cashlink cannot tell: shown for manual investigation, no button to
	// send it again, and page views do not send anything.
	if err := emu.SetRedemptionOutcome(cashlink.OutcomeUnknown); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.post("/imports/redeem", redeemForm(investor, product, wallet, 10, "REDEEM 10")), http.StatusSeeOther)
	unknown := redemptionRows(c.get("/imports/redeem"))[0]
	row := waitRedemption(t, c, unknown["id"])
	if row["status"] != "unknown" || !strings.HasPrefix(row["now"], "Needs manual investigation.") || row["check"] != "0" {
		t.Fatalf("unknown redemption: %v", row)
	}
	c.get("/imports/redeem")
	if n := redemptions(); n != 2 {
		t.Fatalf("%d redemptions in Cashlink, want 2", n)
	}
	emu.SetRedemptionOutcome(cashlink.OutcomeSuccess)

	// The work is done but every answer is lost: "no answer", then a
	// check again under the same key finds the same redemption.
	rules, err = faults.ParseRules("cashlink POST /api/external/v2/redemptions/ 5xx-after=1")
	if err != nil {
		t.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
	wantStatus(t, c.post("/imports/redeem", redeemForm(investor, product, wallet, 5, "REDEEM 5")), http.StatusSeeOther)
	s.app.Sandbox.Faults.Set(nil)
	r = c.get("/imports/redeem")
	lost := redemptionRows(r)[0]
	if lost["status"] != "no_answer" || !strings.HasPrefix(lost["now"], "Needs manual investigation.") || lost["check"] != "1" {
		t.Fatalf("lost answer: %v", lost)
	}
	if n := redemptions(); n != 3 {
		t.Fatalf("%d redemptions in Cashlink after a lost answer, want 3", n)
	}
	c.get("/imports/redeem") // refresh CSRF token
	wantStatus(t, c.post("/imports/redeem/"+lost["id"]+"/check", nil), http.StatusSeeOther)
	if row := waitRedemption(t, c, lost["id"]); row["status"] != "success" || row["cashlink"] == "" {
		t.Fatalf("checked again: %v", row)
	}
	if n := redemptions(); n != 3 {
		t.Fatalf("checking again created another redemption: %d", n)
	}
	keys := map[string]bool{}
	calls, err := s.app.Audit.List(ctx, audit.Filter{API: "cashlink", Method: http.MethodPost, PathContains: "/v2/redemptions/", Kind: audit.KindCall}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range calls.Entries {
		keys[e.IdempotencyKey] = true
	}
	if len(calls.Entries) < 5 || len(keys) != 4 {
		t.Fatalf("%d redemption attempts with %d keys; want 4 requests (one refused) under 4 keys", len(calls.Entries), len(keys))
	}

	// Each outcome read back is in the audit log.
	events, err := s.app.Audit.List(ctx, audit.Filter{Kind: audit.KindEvent}, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, e := range events.Entries {
		if e.Event == audit.EventRedemption && strings.Contains(e.Detail, "(Cashlink ") {
			outcomes = append(outcomes, e.Detail[strings.LastIndex(e.Detail, " ")+1:])
		}
	}
	if strings.Join(outcomes, ",") != "success,unknown,success" {
		t.Fatalf("outcome events (newest first) %v", outcomes)
	}

	// Auditors see the page, not the form, and cannot redeem.
	s.createUser(t, "auditor@example.com", "auditor")
	a := s.client(t)
	a.login("auditor@example.com", testPass)
	r = a.get("/imports/redeem")
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`[data-testid="redeem-form"]`).Length() != 0 || r.doc.Find(`[data-testid="investor-search"]`).Length() != 0 || len(redemptionRows(r)) != 4 {
		t.Fatalf("auditor view: form %d rows %d", r.doc.Find(`[data-testid="redeem-form"]`).Length(), len(redemptionRows(r)))
	}
	// Names and e-mails are personal data: the auditor sees them masked.
	if got := text(r.doc.Find(`[data-testid="redemption-investor"]`).First()); !strings.HasPrefix(got, personal.Masked+" ") || strings.Contains(text(r.doc.Find(`[data-testid="redemptions-table"]`)), "@") {
		t.Fatalf("auditor sees the investor as %q", got)
	}
	wantStatus(t, a.post("/imports/redeem", redeemForm(investor, product, wallet, 1, "REDEEM 1")), http.StatusForbidden)
}

// The reconciliation reads each imported investment from both APIs and
// flags what disagrees; an API that cannot be read is said, not hidden.
func TestReconciliation(t *testing.T) {
	t.Parallel()
	s := fastCashlinkServer(t, 20*time.Millisecond)
	emu := s.app.Sandbox.Cashlink
	ctx := context.Background()
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/imports/reconcile")
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`[data-testid="reconcile-empty"]`).Length() != 1 {
		t.Fatal("an empty reconciliation does not say so")
	}

	// Three accepted investments; the second is imported with one unit more
	// than Issuance's quantity (as if edited at review).
	page, err := s.app.Issuance.ListInvestmentsQuery(ctx, url.Values{"status": {"accepted"}, "ordering": {"id"}, "page_size": {"3"}})
	if err != nil || len(page.Results) != 3 {
		t.Fatalf("investments: %v %d", err, len(page.Results))
	}
	inf, _ := emu.Info(ctx, "")
	var csv strings.Builder
	csv.WriteString("issuance_investment_id,cashlink_investor_id,units\n")
	for i, inv := range page.Results {
		units := ""
		if i == 1 {
			units = strconv.FormatInt(inv.Quantity+1, 10)
		}
		csv.WriteString(strconv.FormatInt(inv.ID, 10) + "," + inf.Investors[i].ID + "," + units + "\n")
	}
	r = c.post("/imports", url.Values{"name": {"reconcile"}})
	job := strings.Split(r.Header.Get("Location"), "/")[2]
	c.get("/imports/" + job + "/source")
	wantStatus(t, c.upload("/imports/"+job+"/source", map[string]string{"kind": "csv"}, "rows.csv", []byte(csv.String())), http.StatusOK)
	wantStatus(t, c.post("/imports/"+job+"/mapping", url.Values{"campaign_id": {inf.Campaigns[0].ID}, "product_id": {inf.Products[0].ID}, "action": {"save"}}), http.StatusOK)
	wantStatus(t, c.upload("/imports/"+job+"/documents", nil, "signed.pdf", pdf("shared")), http.StatusOK)
	r, phrase, form := preflight(t, c, job)
	if phrase != "CREDIT 3" {
		t.Fatalf("pre-flight: %q %s", phrase, text(r.doc.Find(`[data-testid="preflight-problems"]`)))
	}
	wantStatus(t, c.post("/imports/"+job+"/start", form), http.StatusSeeOther)
	waitJob(t, c, job, 3*time.Minute)

	r = c.get("/imports/reconcile")
	wantStatus(t, r, http.StatusOK)
	got := map[string]string{}
	r.doc.Find(`[data-testid="reconcile-row"]`).Each(func(_ int, tr *goqSel) {
		ref := text(tr.Find("td").First().Find("a"))
		codes := tr.Find("td").Eq(1).Find(".badge").Map(func(_ int, b *goqSel) string { return b.AttrOr("data-code", "") })
		got[ref] = strings.Join(codes, " → ") + " | " + text(tr.Find("td").Last())
	})
	if len(got) != 3 {
		t.Fatalf("reconciliation rows %v", got)
	}
	for i, inv := range page.Results {
		line, ok := got[inv.ReferenceID]
		if !ok {
			t.Fatalf("investment %s missing: %v", inv.ReferenceID, got)
		}
		want := "accepted → DELIVERED | matches"
		if i == 1 {
			want = "accepted → DELIVERED | Units " + strconv.FormatInt(inv.Quantity+1, 10) + " differ from the Issuance quantity " + strconv.FormatInt(inv.Quantity, 10) + " (edited at review?)."
		}
		if line != want {
			t.Errorf("%s: %q, want %q", inv.ReferenceID, line, want)
		}
	}

	// An imported investment's page links to its import row; another says
	// it is in no job.
	r = c.get("/investments/" + strconv.FormatInt(page.Results[0].ID, 10))
	wantStatus(t, r, http.StatusOK)
	im := r.doc.Find(`[data-testid="investment-import"]`)
	href, _ := im.Find("a").Attr("href")
	cells := im.Find("td")
	if im.Length() != 1 || href != "/imports/"+job+"/result" || text(cells.Eq(1)) != "done" || text(cells.Eq(3)) != "DELIVERED" || len(text(cells.Eq(2))) != 36 {
		t.Fatalf("import of an imported investment: %d rows, link %q, %q", im.Length(), href, text(im))
	}
	other, err := s.app.Issuance.ListInvestmentsQuery(ctx, url.Values{"status": {"cancelled"}, "page_size": {"1"}})
	if err != nil || len(other.Results) != 1 {
		t.Fatalf("a cancelled investment: %v", err)
	}
	r = c.get("/investments/" + strconv.FormatInt(other.Results[0].ID, 10))
	if text(r.doc.Find(`[data-testid="not-imported"]`)) != "Not part of any import job." || r.doc.Find(`[data-testid="investment-import"]`).Length() != 0 {
		t.Fatalf("a never imported investment: %s", text(r.doc.Find(`[data-testid="investment-imports"]`)))
	}

	// Cashlink unreadable: each row says so, the page still answers.
	rules, err := faults.ParseRules("cashlink GET /api/external/v2/investments/ 5xx=1 status=503")
	if err != nil {
		t.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
	r = c.get("/imports/reconcile")
	s.app.Sandbox.Faults.Set(nil)
	wantStatus(t, r, http.StatusOK)
	if n := r.doc.Find(`.flash-error`).FilterFunction(func(_ int, e *goqSel) bool { return strings.Contains(text(e), "could not be read") }).Length(); n != 3 {
		t.Fatalf("%d read errors shown, want 3: %s", n, text(r.doc.Find("main")))
	}
}

// The redemption picker: an investor found by name or e-mail (a plain GET
// form, and the fragment htmx asks for while typing), then the products
// and wallets with the balance read from Cashlink; more units than the
// balance are refused next to the field before anything is sent, with
// every input kept.
func TestRedemptionPicker(t *testing.T) {
	t.Parallel()
	s := fastCashlinkServer(t, time.Hour) // redemptions stay processing
	ctx := context.Background()
	emu := s.app.Sandbox.Cashlink
	inf, err := emu.Info(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var erika, betty cashlink.InfoInvestor // the first seeded investor, and another
	for _, iv := range inf.Investors {
		switch {
		case erika.ID == "" && len(iv.Wallets) > 0:
			erika = iv
		case iv.Email == "betty.kowalski.5@example.org":
			betty = iv
		}
	}
	if erika.ID == "" || betty.ID == "" {
		t.Fatalf("seeded investors: %+v", inf.Investors)
	}
	erikaName := erika.Forename + " " + erika.Surname
	product := inf.Products[0]
	c := s.client(t)
	c.login(adminEmail, adminPass)

	matches := func(r *response) []string {
		var out []string
		r.doc.Find(`[data-testid="investor-match"]`).Each(func(_ int, li *goqSel) {
			out = append(out, text(li.Find("a"))+" | "+li.Find("a").AttrOr("href", ""))
		})
		return out
	}
	for _, tc := range []struct{ q, want string }{
		{strings.ToUpper(erika.Surname), erikaName},                        // by name, any case: one of several
		{"betty.kowalski.5@example", betty.Forename + " " + betty.Surname}, // by e-mail
		{erika.Email, erikaName},
		{"nobody-here", ""},
	} {
		r := c.get("/imports/redeem?" + url.Values{"q": {tc.q}}.Encode())
		wantStatus(t, r, http.StatusOK)
		var names []string
		for _, m := range matches(r) {
			names = append(names, strings.Split(m, " | ")[0])
		}
		if tc.want == "" && len(names) != 0 || tc.want != "" && !slices.Contains(names, tc.want) {
			t.Errorf("search %q: %v, want %s among them", tc.q, matches(r), tc.want)
		}
		r.doc.Find(`[data-testid="investor-match"]`).Each(func(_ int, li *goqSel) {
			if !strings.Contains(strings.ToLower(text(li)), strings.ToLower(tc.q)) {
				t.Errorf("search %q lists %q", tc.q, text(li))
			}
		})
		if v, _ := r.doc.Find(`#r-q`).Attr("value"); v != tc.q {
			t.Errorf("search %q: the box shows %q", tc.q, v)
		}
		if tc.want == "" && r.doc.Find(`[data-testid="no-matches"]`).Length() != 1 {
			t.Errorf("search %q: no word that nothing matched", tc.q)
		}
	}
	if r := c.get("/imports/redeem?q=example"); len(matches(r)) != 20 || r.doc.Find(`[data-testid="more-matches"]`).Length() != 1 {
		t.Fatalf("a search matching many: %d listed, note %d", len(matches(r)), r.doc.Find(`[data-testid="more-matches"]`).Length())
	}
	if m := matches(c.get("/imports/redeem?q=" + url.QueryEscape(erika.Email))); len(m) != 1 || !strings.HasSuffix(m[0], "/imports/redeem?investor="+erika.ID) {
		t.Fatalf("match link: %v", m)
	}
	// While typing, htmx gets the matches alone; without htmx the address
	// leads to the page.
	r := c.get("/imports/redeem/investors?q=betty.kowalski", "HX-Request", "true")
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find("header, main").Length() != 0 || len(matches(r)) != 1 || r.doc.Find(`#investor-matches`).Length() != 1 {
		t.Fatalf("htmx matches: %s", r.body)
	}
	r = c.get("/imports/redeem/investors?q=betty")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/imports/redeem?q=betty" {
		t.Fatalf("no-JS search: %d %s", r.StatusCode, r.Header.Get("Location"))
	}

	// The investor chosen: names, the balance per product and wallet.
	pick := "/imports/redeem?investor=" + erika.ID
	r = c.get(pick)
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="chosen-name"]`)); got != erikaName {
		t.Fatalf("chosen investor %q", got)
	}
	balances := func(r *response) map[string]string {
		out := map[string]string{}
		r.doc.Find(`[data-testid="holding"]`).Each(func(_ int, h *goqSel) {
			in := h.Find(`input[type="radio"]`)
			state := ""
			if _, ok := in.Attr("checked"); ok {
				state = " checked"
			}
			if _, ok := in.Attr("disabled"); ok {
				state += " disabled"
			}
			out[in.AttrOr("value", "")] = text(h.Find(`[data-testid="balance"]`)) + state
		})
		return out
	}
	held := product.ID + " " + erika.Wallets[0].ID
	if got := balances(r)[held]; got != "1,000 units checked" {
		t.Fatalf("balance of %s: %q (all: %v)", product.Name, got, balances(r))
	}
	if got := text(r.doc.Find(`[data-testid="holding"]`).First().Find(`[data-testid="holding-product"]`)); !strings.HasPrefix(got, product.Name+" ") {
		t.Fatalf("product shown as %q, want its name %q first", got, product.Name)
	}
	for v, b := range balances(r) {
		if v != held && b != "0 units — nothing to redeem disabled" {
			t.Errorf("%s: %q, want nothing to redeem", v, b)
		}
	}

	// More than the balance (typed with a thousands separator, as the page
	// writes numbers): refused next to the units before anything is sent,
	// everything typed kept.
	form := redeemForm(erika.ID, product.ID, erika.Wallets[0].ID, 0, "REDEEM 1001")
	form.Set("units", "1,001")
	r = c.post("/imports/redeem", form)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got, want := text(r.doc.Find(`[data-testid="error-units"]`)), "More than the balance: this wallet holds 1,000 units of "+product.Name+"."; got != want {
		t.Fatalf("units error %q, want %q", got, want)
	}
	if in := r.doc.Find(`#r-units`); in.AttrOr("value", "") != "1,001" || in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != "r-units-err" {
		t.Fatalf("units input after refusal: %v", in.Nodes[0].Attr)
	}
	if v := r.doc.Find(`#r-confirm`).AttrOr("value", ""); v != "REDEEM 1001" {
		t.Fatalf("confirmation not kept: %q", v)
	}
	if got := balances(r)[held]; got != "1,000 units checked" {
		t.Fatalf("chosen product and wallet not kept: %q", got)
	}
	if v := r.doc.Find(`input[name="investor"]`).AttrOr("value", ""); v != erika.ID {
		t.Fatalf("investor not kept: %q", v)
	}
	if n := s.callCount(t, "cashlink"); n == 0 {
		t.Fatal("the balance was not read from Cashlink")
	}
	if calls, err := s.app.Audit.List(ctx, audit.Filter{API: "cashlink", Method: http.MethodPost, PathContains: "/v2/redemptions/", Kind: audit.KindCall}, 0, 10); err != nil || len(calls.Entries) != 0 {
		t.Fatalf("a redemption over the balance was sent: %v %d", err, len(calls.Entries))
	}

	// Within the balance: sent; the table names investor and product, and
	// the balance read again is smaller.
	r = c.post("/imports/redeem", redeemForm(erika.ID, product.ID, erika.Wallets[0].ID, 30, "REDEEM 30"))
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get(pick)
	if got := balances(r)[held]; got != "970 units checked" {
		t.Fatalf("balance after redeeming 30: %q", got)
	}
	if got := text(r.doc.Find(`[data-testid="balance-processing"]`)); got != "30 units in a redemption still processing may not be counted yet." {
		t.Fatalf("the processing redemption beside the balance: %q", got)
	}
	row := r.doc.Find(`[data-testid="redemption-row"]`).First()
	if inv, prod := text(row.Find(`[data-testid="redemption-investor"]`)), text(row.Find(`[data-testid="redemption-product"]`)); !strings.HasPrefix(inv, erikaName+" · "+erika.Email+" ") ||
		!strings.HasPrefix(prod, product.Name+" ") {
		t.Fatalf("redemption row names: %q / %q", inv, prod)
	}

	// Balance unreadable: said on the page, not guessed.
	rules, err := faults.ParseRules("cashlink GET /api/external/v2/investments/ 5xx=1 status=503")
	if err != nil {
		t.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
	r = c.get(pick)
	s.app.Sandbox.Faults.Set(nil)
	wantStatus(t, r, http.StatusOK)
	if note := text(r.doc.Find(`[data-testid="balance-unknown"]`)); !strings.Contains(note, "has no balance call") || balances(r)[held] != "balance unknown" {
		t.Fatalf("unreadable balance: %q %v", note, balances(r))
	}

	// An id the console does not know: offered, and Cashlink asked.
	unknown := "0b6f0f4e-9c1e-4e55-8a53-5d0f3a0c0a11"
	if m := matches(c.get("/imports/redeem?q=" + unknown)); len(m) != 1 {
		t.Fatalf("an id typed in: %v", m)
	}
	r = c.get("/imports/redeem?investor=" + unknown)
	if got := text(r.doc.Find(`[data-testid="redeem-error"]`)); !strings.Contains(got, "Cashlink does not know the investor") || r.doc.Find(`[data-testid="redeem-form"]`).Length() != 0 {
		t.Fatalf("unknown investor: %q", got)
	}
}
