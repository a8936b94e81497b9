package routes_test

import (
	"testing"

	"issuerconsole/routes"
)

func TestPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		r    routes.Route
		args []any
		want string
	}{
		{routes.Imports, nil, "/imports"},
		{routes.ImportMapping, []any{int64(7)}, "/imports/7/mapping"},
		{routes.ImportRowSkip, []any{int64(7), int64(42)}, "/imports/7/rows/42/skip"},
		{routes.ImportDocDelete, []any{3, "a b/c"}, "/imports/3/documents/a%20b%2Fc/delete"},
	}
	for _, c := range cases {
		if got := c.r.Path(c.args...); got != c.want {
			t.Errorf("%s.Path(%v) = %q, want %q", c.r, c.args, got, c.want)
		}
	}
	if got := routes.ImportStep(9, "review"); got != "/imports/9/review" {
		t.Errorf("ImportStep = %q", got)
	}
}

func TestPathWrongArguments(t *testing.T) {
	t.Parallel()
	for _, args := range [][]any{nil, {int64(1), int64(2)}, {1.5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ImportMapping.Path(%v) did not panic", args)
				}
			}()
			routes.ImportMapping.Path(args...)
		}()
	}
}
