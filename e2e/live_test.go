package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testCA makes a CA and a certificate it signs for 127.0.0.1; it returns
// the files' paths and a client that trusts the CA.
func testCA(t *testing.T) (caFile, certFile, keyFile string, client *http.Client) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err, "CA key")
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer-console test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err, "CA certificate")
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err, "server key")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(t, err, "server certificate")
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err, "server key")
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600), "write "+name)
		return p
	}
	caFile, certFile, keyFile = write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return caFile, certFile, keyFile, client
}

func getJSON(t *testing.T, cl *http.Client, u string, hdr map[string]string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := cl.Do(req)
	must(t, err, u)
	defer res.Body.Close()
	if out != nil && res.StatusCode == 200 {
		must(t, json.NewDecoder(res.Body).Decode(out), "decode "+u)
	}
	return res.StatusCode
}

// The live mode as a new issuer meets it: one process serves the emulators
// over HTTPS (a certificate from a CA this test makes), a second runs in
// live mode against it with only environment credentials — three
// per-offering Issuance keys, a Firebase refresh token whose ID tokens live
// two seconds, the Cashlink client — and shows the offerings, a search
// across offerings, the investors page after its first ID token expired,
// and an import to its result.
func TestBrowserLiveMode(t *testing.T) {
	ctx := newBrowser(t)
	caFile, certFile, keyFile, cl := testCA(t)
	emu := startConsole(t, "", []string{"-sandbox", "true", "-sandbox-investments", "300", "-sandbox-token-ttl", "2s",
		"-tls-cert", certFile, "-tls-key", keyFile}, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	if !strings.HasPrefix(emu.URL, "https://") {
		t.Fatalf("the emulators are not on HTTPS: %s", emu.URL)
	}
	var iss struct {
		APIKeys []struct {
			Key       string  `json:"key"`
			Offerings []int64 `json:"offerings"`
		} `json:"api_keys"`
		Firebase struct {
			APIKey       string `json:"api_key"`
			RefreshToken string `json:"refresh_token"`
			TokenURL     string `json:"token_url"`
		} `json:"firebase"`
	}
	getJSON(t, cl, emu.URL+"/sandbox/issuance/_info", nil, &iss)
	var cash struct {
		Campaigns []struct {
			ID, Name string
			Active   bool `json:"is_campaign_active"`
		} `json:"campaigns"`
		Products  []struct{ ID, Name string } `json:"products"`
		Investors []struct {
			ID      string `json:"id"`
			Wallets []any  `json:"wallets"`
		} `json:"investors"`
	}
	getJSON(t, cl, emu.URL+"/sandbox/cashlink/_info", nil, &cash)
	if len(iss.APIKeys) < 3 || len(cash.Campaigns) == 0 || len(cash.Investors) == 0 {
		t.Fatalf("emulator info: %d keys, %d campaigns, %d investors", len(iss.APIKeys), len(cash.Campaigns), len(cash.Investors))
	}
	var keys, offerings []string
	for _, k := range iss.APIKeys[:3] {
		keys = append(keys, k.Key)
		offerings = append(offerings, strconv.FormatInt(k.Offerings[0], 10))
	}

	live := startConsole(t, "", []string{"-sandbox", "false"},
		"ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass,
		"SSL_CERT_FILE="+caFile, // the test CA, as an operator would add a company CA
		"ISSUANCE_BASE_URL="+emu.URL+"/sandbox/issuance/",
		"ISSUANCE_API_KEYS="+strings.Join(keys, ","),
		"ISSUANCE_FIREBASE_API_KEY="+iss.Firebase.APIKey,
		"ISSUANCE_FIREBASE_REFRESH_TOKEN="+iss.Firebase.RefreshToken,
		"ISSUANCE_FIREBASE_TOKEN_URL="+emu.URL+iss.Firebase.TokenURL,
		"CASHLINK_BASE_URL="+emu.URL+"/sandbox/cashlink/api/external",
		"CASHLINK_CLIENT_ID=sandbox-client", "CASHLINK_CLIENT_SECRET=sandbox-secret")
	if !strings.Contains(live.Output(), "mode=live") {
		t.Fatalf("the second console is not in live mode:\n%s", live.Output())
	}
	signIn(t, ctx, live.URL, adminEmail, adminPass)

	// The connection test names the offerings each key sees.
	must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/settings")), "settings")
	waitJS(t, ctx, `document.querySelector('[data-testid="test-issuance"]')`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="test-issuance"]`))), "test connection")
	waitJS(t, ctx, `(document.getElementById("test-issuance") || {textContent: ""}).textContent.includes("Offerings per API key: key 1: #")`)

	// The offerings: exactly the three the keys see.
	must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/offerings")), "offerings")
	waitJS(t, ctx, `document.querySelector('[data-testid="result-count"]')`)
	if n := textOf(t, ctx, `[data-testid="result-count"]`); n != "3" {
		t.Fatalf("the live console lists %s offerings with three keys", n)
	}
	shot(t, ctx, "live-1-offerings")

	// A search across the offerings: the same count as the all-seeing key.
	var want struct{ Count int }
	getJSON(t, cl, emu.URL+"/sandbox/issuance/api/investments/?status__in=accepted,invested&offering__in="+strings.Join(offerings, ","),
		map[string]string{"Authorization": "Api-Key sandbox-issuance-key"}, &want)
	must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/investments?status__in=accepted%2Cinvested&ordering=-amount&page_size=25")), "search")
	waitJS(t, ctx, `document.querySelector('[data-testid="result-count"]')`)
	if got := textOf(t, ctx, `[data-testid="result-count"]`); got != strconv.Itoa(want.Count) {
		t.Fatalf("search across offerings: %s investments, the all-seeing key counts %d", got, want.Count)
	}
	shot(t, ctx, "live-2-search")

	// The investors page, then again once its first ID token has expired:
	// a token the test obtains after the page's is polled until the
	// emulator refuses it, so the page's own is expired too.
	must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/investors")), "investors")
	waitJS(t, ctx, `document.querySelector('[data-testid="result-count"]') || document.querySelector('[data-testid="list-problem"]')`)
	if evalString(t, ctx, `document.querySelector('[data-testid="list-problem"]') ? "problem" : ""`) != "" {
		t.Fatalf("investors: %s", textOf(t, ctx, `[data-testid="list-problem"]`))
	}
	firstCount := textOf(t, ctx, `[data-testid="result-count"]`)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {iss.Firebase.RefreshToken}}
	res, err := cl.PostForm(emu.URL+iss.Firebase.TokenURL+"?key="+url.QueryEscape(iss.Firebase.APIKey), form)
	must(t, err, "exchange a token")
	var tok struct {
		IDToken string `json:"id_token"`
	}
	must(t, json.NewDecoder(res.Body).Decode(&tok), "token answer")
	res.Body.Close()
	expired := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if getJSON(t, cl, emu.URL+"/sandbox/issuance/api/investors/?page_size=1", map[string]string{"Authorization": "Bearer " + tok.IDToken}, nil) == http.StatusUnauthorized {
			expired = true
			break
		}
	}
	if !expired {
		t.Fatal("the emulator's ID token never expired")
	}
	must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/investors")), "investors again")
	waitJS(t, ctx, `document.querySelector('[data-testid="result-count"]') || document.querySelector('[data-testid="list-problem"]')`)
	if evalString(t, ctx, `document.querySelector('[data-testid="list-problem"]') ? "problem" : ""`) != "" {
		t.Fatalf("investors after the token expired: %s", textOf(t, ctx, `[data-testid="list-problem"]`))
	}
	if got := textOf(t, ctx, `[data-testid="result-count"]`); got != firstCount {
		t.Fatalf("investors: %s, then %s", firstCount, got)
	}
	shot(t, ctx, "live-3-investors-after-expiry")

	// Campaign and product entered once, as Cashlink has no list of them.
	camp := cash.Campaigns[0]
	for _, c := range cash.Campaigns {
		if c.Active {
			camp = c
			break
		}
	}
	for _, it := range []struct{ kind, id, label string }{{"campaign", camp.ID, camp.Name}, {"product", cash.Products[0].ID, cash.Products[0].Name}} {
		must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/settings/catalog")), "catalog")
		waitJS(t, ctx, `document.querySelector('[data-testid="catalog-form"]')`)
		must(t, chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("c-kind"), it.kind),
			chromedp.SendKeys(chromedp.ID("c-id"), it.id),
			chromedp.SendKeys(chromedp.ID("c-label"), it.label),
			chromedp.Click(chromedp.CSS(`[data-testid="catalog-save"]`)),
		), "save "+it.kind)
		waitJS(t, ctx, `document.querySelector('[data-testid="catalog-msg"]')`)
	}
	shot(t, ctx, "live-4-catalog")

	// An import of one offering's accepted and invested investments.
	pdfPath := filepath.Join(t.TempDir(), "subscription-agreement.pdf")
	must(t, os.WriteFile(pdfPath, minimalPDF, 0o600), "pdf")
	must(t, chromedp.Do(ctx, chromedp.Navigate(live.URL+"/imports")), "imports")
	waitJS(t, ctx, `document.getElementById("job-name")`)
	must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("job-name"), "Live import"),
		chromedp.Click(chromedp.CSS(`[data-testid="new-import"] button`))), "new import")
	waitJS(t, ctx, `location.pathname.endsWith("/source") && document.querySelector('[data-testid="source-search"]')`)
	// The offering with the fewest accepted and invested investments (at
	// least one), so the run stays short.
	source, fewest := "", 0
	for _, o := range offerings {
		var n struct{ Count int }
		getJSON(t, cl, emu.URL+"/sandbox/issuance/api/investments/?page_size=1&status__in=accepted,invested&offering="+o,
			map[string]string{"Authorization": "Api-Key sandbox-issuance-key"}, &n)
		if n.Count > 0 && (source == "" || n.Count < fewest) {
			source, fewest = o, n.Count
		}
	}
	if source == "" {
		t.Fatal("no accepted or invested investment in the three offerings")
	}
	must(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("src-offering"), source),
		chromedp.Click(chromedp.CSS(`[data-testid="source-search"] button`))), "load offering")
	waitJS(t, ctx, `document.querySelector('[data-testid="source-count"]')`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.button[href$="/mapping"]`))), "to mapping")
	waitJS(t, ctx, `location.pathname.endsWith("/mapping") && document.getElementById("m-campaign")`)
	var withWallet string
	for _, inv := range cash.Investors {
		if len(inv.Wallets) > 0 {
			withWallet = inv.ID
			break
		}
	}
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		document.getElementById("m-campaign").value = %q;
		document.getElementById("m-product").value = %q;
		for (const i of document.querySelectorAll('[data-testid="mapping-input"], [data-testid="unlinked-table"] input')) if (!i.value) i.value = %q;
	})()`, camp.ID, cash.Products[0].ID, withWallet)), chromedp.Click(chromedp.CSS(`[data-testid="mapping-form"] button[value="save"]`))), "save mapping")
	waitJS(t, ctx, `(document.querySelector('[data-testid="mapping-msg"]') || {}).textContent === "Mapping saved."`)
	if evalString(t, ctx, `document.querySelector('[data-testid="live-investor-hint"]') ? "yes" : ""`) != "yes" {
		t.Fatal("the live mapping step does not say what a created investor still needs")
	}
	shot(t, ctx, "live-5-mapping")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.button[href$="/documents"]`))), "to documents")
	waitJS(t, ctx, `location.pathname.endsWith("/documents") && document.getElementById("d-shared")`)
	must(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("d-shared"), []string{pdfPath}),
		chromedp.Click(chromedp.CSS(`[data-testid="shared-upload"] button`))), "upload PDF")
	waitJS(t, ctx, `(document.querySelector('[data-testid="documents-msg"]') || {textContent: ""}).textContent.startsWith("Stored")`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.button[href$="/review"]`))), "to review")
	waitJS(t, ctx, `location.pathname.endsWith("/review") && document.querySelector('[data-testid="preflight-link"]')`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="preflight-link"]`))), "to the pre-flight")
	waitJS(t, ctx, `location.pathname.endsWith("/confirm") && document.querySelector('[data-testid="phrase"]')`)
	phrase := evalString(t, ctx, `document.querySelector('[data-testid="phrase"]').textContent`)
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector('[data-testid="currency-accept"]'); if (c) c.checked = true; })()`),
		chromedp.SendKeys(chromedp.ID("confirm"), phrase), chromedp.Click(chromedp.CSS(`[data-testid="start-button"]`))), "start")
	waitJS(t, ctx, `location.pathname.endsWith("/run")`)
	waitJS(t, ctx, `((document.querySelector('[data-testid="run-state"]') || {}).dataset || {}).code === "done"`)
	must(t, chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(evalString(t, ctx, `location.href`), "/run")+"/result")), "result")
	waitJS(t, ctx, `document.querySelector('[data-testid="report-link"]')`)
	states := evalString(t, ctx, `[...document.querySelectorAll('tr[data-testid="run-row"]')].map(r => r.dataset.state).join(",")`)
	if n := len(strings.Split(states, ",")); states == "" || n != fewest {
		t.Fatalf("%d rows in the result, the offering has %d accepted and invested investments", n, fewest)
	}
	for _, st := range strings.Split(states, ",") {
		if st != "done" {
			t.Fatalf("row states %s", states)
		}
	}
	shot(t, ctx, "live-6-result")

	// No secret in the live console's output.
	out := live.Output()
	for _, secret := range append(keys, iss.Firebase.RefreshToken, "sandbox-secret", "sandbox-id-token-") {
		if strings.Contains(out, secret) {
			t.Fatalf("the live console's log holds a secret (%.12s…)", secret)
		}
	}
}
