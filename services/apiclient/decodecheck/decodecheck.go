// Package decodecheck is for the API clients' fuzz tests: it checks that
// apiclient.Decode reads an answer exactly as encoding/json does.
package decodecheck

import (
	"encoding/json"
	"reflect"
	"testing"

	"issuerconsole/services/apiclient"
)

// Same fails t unless apiclient.Decode reads b into a new T as
// encoding/json does, and refuses what encoding/json refuses.
func Same[T any](t testing.TB, b []byte) {
	t.Helper()
	v1, v2 := new(T), new(T)
	e1 := json.Unmarshal(b, v1)
	e2 := apiclient.Decode(b, v2)
	switch {
	case e2 == nil && e1 != nil:
		t.Fatalf("the client reads %q as %T, encoding/json refused it: %v", b, v2, e1)
	case e1 == nil && e2 != nil:
		t.Fatalf("encoding/json read %q as %T, the client refuses it: %v", b, v2, e2)
	case e1 == nil && e2 == nil && !reflect.DeepEqual(v1, v2):
		t.Fatalf("%q read differently:\nencoding/json %+v\nclient        %+v", b, v1, v2)
	}
}
