package issuance

import (
	"context"
	"fmt"
	"sort"
)

// The seed gives an issuer "their Offering's API key": one key per
// offering. The emulator issues OfferingAPIKey(id) for every offering of
// its data set; such a key sees its offering and that offering's
// investments (lists, details, values, summary). Investors and users are
// authenticated by a Firebase ID token, a user's credential, not an
// offering's, so no offering key reaches them. DefaultAPIKey keeps seeing
// everything, so existing clients keep working.

// scopeColumn is the offering column of each resource an offering's key
// is confined to.
var scopeColumn = map[string]string{
	"iss_investments i": "i.offering_id",
	"iss_offerings o":   "o.id",
}

// OfferingAPIKey is the sandbox key of one offering.
func OfferingAPIKey(offering int64) string {
	return fmt.Sprintf("sandbox-offering-%d-key", offering)
}

// KeyScope is one API key and the offerings it sees.
type KeyScope struct {
	Key       string  `json:"key"`
	Offerings []int64 `json:"offerings"`
}

func (e *Emulator) loadOfferingKeys(ctx context.Context) error {
	rows, err := e.db.QueryContext(ctx, `SELECT id FROM iss_offerings ORDER BY id`)
	if err != nil {
		return fmt.Errorf("issuance: offering keys: %w", err)
	}
	defer rows.Close()
	keys := map[string]int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("issuance: offering keys: %w", err)
		}
		keys[OfferingAPIKey(id)] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("issuance: offering keys: %w", err)
	}
	e.offeringKeys = keys
	return nil
}

// offeringKey finds the offering of a per-offering key.
func (e *Emulator) offeringKey(key string) (int64, bool) {
	id, ok := e.offeringKeys[key]
	return id, ok
}

// APIKeys lists the per-offering keys in offering order.
func (e *Emulator) APIKeys() []KeyScope {
	out := make([]KeyScope, 0, len(e.offeringKeys))
	for k, id := range e.offeringKeys {
		out = append(out, KeyScope{Key: k, Offerings: []int64{id}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offerings[0] < out[j].Offerings[0] })
	return out
}
