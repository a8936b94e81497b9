package issuance

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// generatorVersion is part of the data set's identity: bump it whenever
// Generate's output changes, so a stored data set is regenerated.
const generatorVersion = 1

// MaxInvestments is the largest data set the generator makes.
const MaxInvestments = 1_000_000

// The generated timeline is fixed (not the clock), so a seed always gives
// the same data.
var (
	genStart = time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC).UnixMicro()
	genEnd   = time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC).UnixMicro()
)

const (
	usMinute = int64(60_000_000)
	usHour   = 60 * usMinute
	usDay    = 24 * usHour
)

// rng is splitmix64: tiny, fast and stable across Go releases, which the
// generator's determinism needs (math/rand's derived methods may change).
type rng struct{ s uint64 }

func newRNG(seed int64, stream uint64) *rng {
	return &rng{s: uint64(seed)*0x9E3779B97F4A7C15 ^ stream*0xD1B54A32D192ED03}
}

func (r *rng) u64() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// intn returns a number in [0, n) (multiply-shift; the bias is negligible
// for demo data).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

func (r *rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

func (r *rng) chance(p float64) bool { return r.float() < p }

func (r *rng) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + int64(r.float()*float64(hi-lo))
}

// pick returns an index drawn with the given weights.
func (r *rng) pick(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

var (
	firstNames = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
		"Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles",
		"Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark",
		"Sandra", "Wei", "Mei", "Hiroshi", "Yuki", "Priya", "Arjun", "Olga", "Ivan", "Fatima", "Omar", "Lars",
		"Ingrid", "Chidi", "Amara", "Diego", "Lucía", "José", "Zoë", "Søren", "Łukasz", "Ólafur", "Björk",
		"François", "Renée", "Siobhán", "Đorđe"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
		"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
		"Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
		"Ramirez", "Lewis", "Robinson", "Müller", "Schäfer", "Østergaard", "Nakamura", "Kowalski", "Dubois",
		"Rossi", "Ivanova", "Okafor", "Patel", "Chen", "Kim", "Nguyễn", "Cohen", "Haddad", "O'Brien", "D'Angelo"}
	// Hostile names: quotes, markup, SQL, LIKE wildcards, scripts that change
	// length when upper-cased, emoji, right-to-left text.
	hostileFirstNames = []string{`<script>alert(1)</script>`, `Robert'); DROP TABLE investments;--`, `"Chuck"`,
		`李`, `محمد`, `Σίσυφος`, `🚀 Rocket`, `%_wild_%`, `back\slash`, `ǅemal`, `straße`}
	hostileLastNames = []string{`O'Brien`, `<b>Bold</b>`, `Smith"; --`, `王`, `Ñúñez`, `ΣΙΣΥΦΟΣ`,
		`Zoë-Ångström`, `McDonald's & Co`, `50%_Off`, `&amp;`, `Ｆｕｌｌｗｉｄｔｈ`}
	emailDomains = []string{"example.com", "example.org", "example.net", "mail.example"}

	issuerNames = []string{"Acme Holdings", "Blue Ridge Capital LLC", "Nørdic Ventures AS", `<i>Issuer</i> & "Co"`,
		"Evergreen Partners", "Summit Real Assets Inc.", "Harbor Lights Group", "Müller & Söhne GmbH"}
	offeringAdjectives = []string{"Acme", "Blue Ridge", "Cedar", "Northwind", "Summit", "Harbor", "Evergreen",
		"Redwood", "Lakeside", "Golden Gate", "Pioneer", "Silver Creek", "Aurora", "Granite"}
	offeringNouns = []string{"Solar", "Real Estate", "Biotech", "Brewing", "Farms", "Robotics", "Coffee",
		"Energy", "Housing", "Media", "Logistics", "Vineyards"}
	offeringKinds    = []string{"Fund", "Notes", "Shares", "Offering", "Holdings", "Partners"}
	romanNumerals    = []string{"I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"}
	hostileOfferings = []string{`O'Brien & Sons "Growth" Fund`, `<script>alert('x')</script> Ventures`,
		"Fonds d’Été 🌞", "100% Green_Energy", "Zürich Ærø Holdings", "東京 Real Estate", "ΣΊΣΥΦΟΣ Capital",
		`Back\slash & <Co>`}
	unitPrices = []int64{1_000000, 5_000000, 10_000000, 12_500000, 850000, 2_350000, 25_000000, 100_000000, 1_234567}

	issueStatuses = []string{"kyc_unverified", "kyc_processing", "kyc_failed", "watchlist_processing",
		"missing_investor_signature", "upload_id_required", "pending_ai", "over_invested_investment",
		"disallowed_us_state", "ira_payment_processing"}
	browsers = []string{"Chrome", "Safari", "Firefox", "Edge", "Mobile Safari", "Chrome Mobile"}
)

// statusWeights per offering status, in investmentStatuses order.
var statusWeights = map[string][]int{
	"opened": {8, 7, 3, 14, 6, 2, 12, 10, 2, 30, 6},
	"closed": {1, 1, 3, 2, 9, 6, 22, 3, 3, 10, 40},
	"paused": {10, 10, 4, 16, 10, 3, 10, 8, 3, 22, 4},
}

var paymentMethodFor = map[string]string{"card": "card", "wire": "wire", "other": "ach", "ira": "ira", "crypto": "crypto"}

// offeringPlan is what the investment generator needs of an offering.
type offeringPlan struct {
	id             int
	open, close    int64
	weight         int
	price          int64
	minInvestment  int64
	maxInvestment  int64 // 0 = none
	adminFee       int64
	typ, status    string
	cumulativeMark int
}

// generator makes a data set: the small tables at construction, the
// investments one at a time in id order.
type generator struct {
	seed        int64
	n           int
	issuers     []Issuer
	offerings   []Offering
	users       []User
	investors   []Investor
	plans       []offeringPlan // investable offerings
	schedule    []plannedInvestment
	personUsers []int
}

type plannedInvestment struct {
	at   int64
	plan int32
}

// Generate builds the deterministic demo data set for a seed and a number
// of investments (0 to MaxInvestments).
func Generate(seed int64, investments int) (*Fixture, error) {
	g, err := newGenerator(seed, investments)
	if err != nil {
		return nil, err
	}
	f := &Fixture{Issuers: g.issuers, Offerings: g.offerings, Users: g.users, Investors: g.investors,
		Investments: make([]Investment, 0, investments)}
	err = g.eachInvestment(func(i Investment) error {
		f.Investments = append(f.Investments, i)
		return nil
	})
	return f, err
}

func newGenerator(seed int64, n int) (*generator, error) {
	if n < 0 || n > MaxInvestments {
		return nil, fmt.Errorf("generator: %d investments is outside 0 to %d", n, MaxInvestments)
	}
	g := &generator{seed: seed, n: n}
	g.makeIssuers()
	g.makeOfferings()
	g.makeInvestors()
	g.makeSchedule()
	return g, nil
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

func (g *generator) makeIssuers() {
	r := newRNG(g.seed, 1)
	n := clamp(g.n/50_000, 3, 40)
	for i := 1; i <= n; i++ {
		name := issuerNames[(i-1)%len(issuerNames)]
		if i > len(issuerNames) {
			name = fmt.Sprintf("%s %s", name, romanNumerals[(i-1)/len(issuerNames)%len(romanNumerals)])
		}
		g.issuers = append(g.issuers, Issuer{ID: i, Name: name, Archived: i == n || r.chance(0.05)})
	}
}

func (g *generator) makeOfferings() {
	r := newRNG(g.seed, 2)
	n := clamp(g.n/2_500, 12, 600)
	statusOrder := []string{"opened", "closed", "paused", "pending", "incomplete"}
	for i := 1; i <= n; i++ {
		status := statusOrder[(i-1)%5]
		if i > 10 {
			status = statusOrder[r.pick([]int{50, 30, 8, 6, 6})]
		}
		typ := offeringTypes[(i-1)%len(offeringTypes)]
		if i > 12 {
			typ = offeringTypes[r.pick([]int{30, 15, 15, 8, 25, 7})]
		}
		name := fmt.Sprintf("%s %s %s %s", offeringAdjectives[r.intn(len(offeringAdjectives))],
			offeringNouns[r.intn(len(offeringNouns))], offeringKinds[r.intn(len(offeringKinds))],
			romanNumerals[r.intn(len(romanNumerals))])
		if i%4 == 2 {
			name = hostileOfferings[(i/4)%len(hostileOfferings)]
		}
		created := r.between(genStart-120*usDay, genStart+(genEnd-genStart)*4/5)
		created = created / 1_000_000 * 1_000_000 // whole seconds, as an admin form makes them
		price := unitPrices[r.intn(len(unitPrices))]
		minInv := []int64{100_00, 250_00, 500_00, 1000_00, 5000_00}[r.intn(5)]
		if typ == "reg_d_506b" || typ == "reg_d_506c" {
			minInv = []int64{10_000_00, 25_000_00, 50_000_00}[r.intn(3)]
		}
		adminFee := []int64{0, 0, 25_00, 35_00, 50_00}[r.intn(5)]
		o := Offering{
			ID: i, Issuer: (i-1)%len(g.issuers) + 1, Name: name, Slug: slugify(name) + "-" + strconv.Itoa(i),
			Type: typ, Status: status, Archived: status == "closed" && r.chance(0.5),
			UnitPrice: formatFixed(price, 6), MinInvestmentAmount: formatFixed(minInv, 2),
			CreatedAt: formatISO(created, false),
			Extra: map[string]json.RawMessage{
				"administrative_fees":                  jsonString(formatFixed(adminFee, 2)),
				"administrative_fees_paid_by_investor": jbool(adminFee > 0),
				"security_type":                        jsonString([]string{"Common Stock", "Class A Shares", "Class B Non-Voting", "Preferred Units", "Convertible Notes"}[r.intn(5)]),
				"description":                          jsonString(name + " — raising capital for growth. <em>Risky</em> & \"illiquid\"."),
				"contact_email":                        jsonString("ir+" + strconv.Itoa(i) + "@issuer.example"),
				"support_email":                        jsonString("support@issuer.example"),
				"default_timezone":                     jsonString(defaultTimezones[r.intn(len(defaultTimezones))]),
			},
		}
		var maxInv int64
		if r.chance(0.4) {
			maxInv = minInv * int64(20+r.intn(80))
			o.MaxInvestmentAmount = ptr(formatFixed(maxInv, 2))
		}
		target := int64(500_000_00 + r.intn(9_500_000)*100)
		o.MaximumAmountRaised = ptr(formatFixed(target, 2))
		o.MinimumAmountRaised = ptr(formatFixed(target/10, 2))
		if r.chance(0.7) {
			shares := target / 100 * 1_000_000 / price
			o.NumberOfShares = &shares
		}
		if typ == "reg_cf" {
			o.Extra["reg_cf_fee_percentage"] = jsonString(formatFixed(int64(300+r.intn(500)), 4))
		}
		plan := offeringPlan{id: i, price: price, minInvestment: minInv, maxInvestment: maxInv, adminFee: adminFee,
			typ: typ, status: status, weight: 1 + r.intn(12)*r.intn(12)}
		if status != "pending" && status != "incomplete" {
			opened := created + r.between(2*usDay, 45*usDay)
			opened = opened / 1_000_000 * 1_000_000
			if opened > genEnd-10*usDay {
				opened = genEnd - 10*usDay
			}
			o.OpenedAt = ptr(formatISO(opened, false))
			plan.open, plan.close = max(opened, genStart), genEnd
			if status == "closed" {
				plan.close = min(genEnd, opened+r.between(60*usDay, 420*usDay))
			}
			if status == "paused" {
				plan.weight = 1 + plan.weight/3
			}
			if plan.close > plan.open {
				g.plans = append(g.plans, plan)
			}
			deadline := time.UnixMicro(plan.close + 30*usDay).UTC().Format("2006-01-02")
			o.DeadlineDate = &deadline
		}
		g.offerings = append(g.offerings, o)
	}
}

func ptr[T any](v T) *T { return &v }

// slugify makes the ASCII slug of a name.
func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "offering"
	}
	return s
}

// asciiLocal makes an e-mail local part from a name.
func asciiLocal(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "investor"
	}
	return b.String()
}

func (g *generator) makeInvestors() {
	r := newRNG(g.seed, 3)
	n := max(20, g.n/3)
	entityID := 0
	for j := 1; j <= n; j++ {
		typ := investorTypes[(j-1)%4]
		if j > 4 {
			typ = investorTypes[r.pick([]int{72, 12, 10, 6})]
		}
		inv := Investor{ID: j, Type: typ}
		var user User
		if typ != "person" && j > 4 && len(g.personUsers) > 0 && r.chance(0.35) {
			uid := g.personUsers[r.intn(len(g.personUsers))]
			user = g.users[uid-1]
		} else {
			first := firstNames[r.intn(len(firstNames))]
			last := lastNames[r.intn(len(lastNames))]
			if r.chance(0.03) || j == 7 {
				first = hostileFirstNames[r.intn(len(hostileFirstNames))]
			}
			if r.chance(0.03) || j == 8 {
				last = hostileLastNames[r.intn(len(hostileLastNames))]
			}
			id := len(g.users) + 1
			email := fmt.Sprintf("%s.%s.%d@%s", asciiLocal(first), asciiLocal(last), id, emailDomains[r.intn(len(emailDomains))])
			if r.chance(0.05) || j == 9 {
				// Mixed case and a tag: the exact e-mail filters are case-sensitive.
				email = fmt.Sprintf("%s.%s+invest%d@Example.COM", strings.ToUpper(asciiLocal(first)[:1])+asciiLocal(first)[1:], asciiLocal(last), id)
			}
			user = User{ID: id, Email: email, FirstName: first, LastName: last}
			g.users = append(g.users, user)
		}
		uid := user.ID
		inv.User = &uid
		if typ == "person" {
			g.personUsers = append(g.personUsers, uid)
		}
		if j <= 4 || (j != 5 && r.chance(0.94)) {
			entityID++
			e := &Entity{ID: entityID, Email: user.Email}
			if typ != "person" {
				e.Email = fmt.Sprintf("%s+%d@%s-%s.example", map[string]string{"company": "finance", "trust": "trustee", "trust_ira": "custodian"}[typ],
					entityID, asciiLocal(user.LastName), typ)
			}
			e.KYCStatus = kycStatuses[r.pick([]int{8, 9, 76, 7})]
			if entityID <= 4 {
				e.KYCStatus = kycStatuses[entityID-1]
			}
			inv.Entity = e
		}
		g.investors = append(g.investors, inv)
	}
}

// makeSchedule draws each investment's offering and time, then orders them
// by time: ids grow with created_at, as an auto-increment key does.
func (g *generator) makeSchedule() {
	if len(g.plans) == 0 || g.n == 0 {
		return
	}
	r := newRNG(g.seed, 4)
	total := 0
	for i := range g.plans {
		total += g.plans[i].weight
		g.plans[i].cumulativeMark = total
	}
	g.schedule = make([]plannedInvestment, g.n)
	for k := range g.schedule {
		w := r.intn(total)
		p := sort.Search(len(g.plans), func(i int) bool { return g.plans[i].cumulativeMark > w })
		pl := g.plans[p]
		g.schedule[k] = plannedInvestment{at: r.between(pl.open, pl.close), plan: int32(p)}
	}
	sort.Slice(g.schedule, func(a, b int) bool { return g.schedule[a].at < g.schedule[b].at })
	for k := 1; k < len(g.schedule); k++ {
		if g.schedule[k].at <= g.schedule[k-1].at {
			g.schedule[k].at = g.schedule[k-1].at + 1 // created_at is unique
		}
	}
}

// eachInvestment yields the investments in id order.
func (g *generator) eachInvestment(yield func(Investment) error) error {
	if g.n > 0 && len(g.plans) == 0 {
		return fmt.Errorf("generator: no offering takes investments")
	}
	r := newRNG(g.seed, 5)
	nInv := len(g.investors)
	for k, s := range g.schedule {
		id := k + 1
		pl := g.plans[s.plan]
		statusIdx := r.pick(statusWeights[pl.status])
		if id <= len(investmentStatuses) {
			statusIdx = id - 1
		}
		status := investmentStatuses[statusIdx].Value
		rpmIdx := r.pick([]int{38, 26, 10, 16, 10})
		if id <= len(requestedPaymentMethods) {
			rpmIdx = (id + 2) % len(requestedPaymentMethods)
		}
		rpm := requestedPaymentMethods[rpmIdx]
		pm := paymentMethodFor[rpm]
		if r.chance(0.04) {
			pm = []string{"card", "wire", "ach", "ira", "crypto"}[r.intn(5)]
		}
		u := r.float()
		investor := 1 + int(float64(nInv)*u*u)
		if investor > nInv {
			investor = nInv
		}
		target := float64(pl.minInvestment) * (1 + 30*r.float()*r.float()*r.float())
		if pl.maxInvestment > 0 && target > float64(pl.maxInvestment) {
			target = float64(pl.maxInvestment)
		}
		qty := int64(target*10_000/float64(pl.price)) + 1
		shares, _ := mulRoundCents(qty, pl.price)
		var fees, ppf int64
		if pl.adminFee > 0 {
			fees = pl.adminFee
		}
		switch pm {
		case "card":
			ppf = (shares*29+500)/1000 + 30
		case "crypto":
			ppf = (shares + 50) / 100
		}
		inv := Investment{
			ID: id, Offering: pl.id, Investor: investor, ReferenceID: fmt.Sprintf("INV-%07d", id), Status: status,
			Quantity: qty, Price: formatFixed(pl.price, 6), PriceFees: formatFixed(fees, 2),
			PricePaymentProcessingFees: formatFixed(ppf, 2), Amount: formatFixed(shares+fees+ppf, 2),
			SharesAmount: formatFixed(shares, 2), PaymentMethod: pm, RequestedPaymentMethod: rpm,
			HasInvestorSigned: status != "started" || r.chance(0.25),
		}
		g.timeline(r, &inv, s.at, status, rpm)
		g.flags(r, &inv, status)
		if pm == "card" {
			inv.PaymentIntentID = "pi_" + randomToken(r, 24)
		}
		g.extras(r, &inv, pl)
		if err := yield(inv); err != nil {
			return err
		}
	}
	return nil
}

const tokenAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomToken(r *rng, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenAlphabet[r.intn(len(tokenAlphabet))]
	}
	return string(b)
}

// timeline sets the timestamps a status implies, each after the previous
// one, none after the end of the generated period.
func (g *generator) timeline(r *rng, inv *Investment, created int64, status, rpm string) {
	at := created
	step := func(lo, hi int64) int64 {
		at = min(genEnd, at+r.between(lo, hi))
		return at
	}
	var processed, received, invested, refunded *int64
	payDelay := int64(2 * usDay)
	if rpm == "wire" || rpm == "ira" {
		payDelay = 7 * usDay
	}
	switch status {
	case "started", "not_received":
	case "payment_failed", "cancelled":
		if status == "payment_failed" || r.chance(0.5) {
			processed = ptr(step(usHour, payDelay))
		}
	default: // received and later
		processed = ptr(step(usHour, payDelay))
		received = ptr(step(usHour, payDelay))
		switch status {
		case "invested", "accepted_escrow_closed":
			invested = ptr(step(usDay, 30*usDay))
		case "refunded":
			refunded = ptr(step(2*usDay, 20*usDay))
		}
	}
	updated := step(0, 3*usDay)
	inv.CreatedAt = formatISO(created, false)
	inv.UpdatedAt = formatISO(updated, false)
	f := func(p *int64) *string {
		if p == nil {
			return nil
		}
		return ptr(formatISO(*p, false))
	}
	inv.ProcessedAt, inv.ReceivedAt, inv.InvestedAt, inv.RefundedAt = f(processed), f(received), f(invested), f(refunded)
}

func (g *generator) flags(r *rng, inv *Investment, status string) {
	switch status {
	case "approved", "accepted", "accepted_escrow_closed", "invested":
		inv.IsApproved = ptr(true)
	case "not_approved":
		inv.IsApproved = ptr(false)
	case "received":
		if r.chance(0.4) {
			inv.IsApproved = ptr(false)
		}
	}
	if status != "started" {
		switch x := r.float(); {
		case x < 0.05:
			inv.WatchlistHasHits = ptr(true)
		case x < 0.98:
			inv.WatchlistHasHits = ptr(false)
		}
	}
	switch status {
	case "started", "not_received", "received", "payment_failed", "not_approved":
		var issues []string
		if inv.WatchlistHasHits != nil && *inv.WatchlistHasHits {
			issues = append(issues, "watchlist_hits")
		}
		if r.chance(0.3) {
			a := issueStatuses[r.intn(len(issueStatuses))]
			issues = append(issues, a)
			if b := issueStatuses[r.intn(len(issueStatuses))]; b != a && r.chance(0.4) {
				issues = append(issues, b)
			}
		}
		inv.ProcessingIssueStatuses = strings.Join(issues, ",")
	}
}

func (g *generator) extras(r *rng, inv *Investment, pl offeringPlan) {
	x := map[string]json.RawMessage{}
	switch pl.typ {
	case "reg_d_506b", "reg_d_506c":
		x["accredited_investor"] = jbool(true)
		x["accredited_investor_type"] = jsonString(accreditedInvestorTypes[r.intn(len(accreditedInvestorTypes))])
		x["us_person"] = jbool(r.chance(0.85))
	case "reg_cf":
		x["accredited_investor"] = jbool(r.chance(0.1))
		x["amount_invested_in_reg_cf_offering_this_year"] = jsonString(formatFixed(int64(r.intn(2_000_000)), 2))
		x["annual_income"] = jsonString(formatFixed(int64(30_000_00+r.intn(200_000)*100), 2))
		x["net_worth"] = jsonString(formatFixed(int64(50_000_00+r.intn(900_000)*100), 2))
	}
	if r.chance(0.02) {
		x["bonus_shares"] = json.RawMessage(strconv.FormatInt(inv.Quantity/10, 10))
		x["bonus_shares_code"] = jsonString("EARLYBIRD")
		x["bonus_shares_percentage_tier"] = jsonString("10.00")
	}
	if len(x) > 0 {
		x["user_browser_type"] = jsonString(browsers[r.intn(len(browsers))])
		inv.Extra = x
	}
}
