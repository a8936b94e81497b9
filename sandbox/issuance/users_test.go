package issuance

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestUsersCreateAndUpdate(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	post := func(body, ct string) response {
		return do(t, h, "POST", "/api/users/", tokenAuth, strings.NewReader(body), ct)
	}
	patch := func(id, body string) response {
		return do(t, h, "PATCH", "/api/users/"+id+"/", tokenAuth, strings.NewReader(body), "application/json")
	}
	tests := []struct {
		name   string
		send   func() response
		status int
		body   string
	}{
		{"create", func() response {
			return post(`{"email":"new@example.com","password":"s3cret-pass"}`, "application/json")
		},
			201, `{"id":4,"email":"new@example.com"}`},
		{"create from a form, trimmed", func() response {
			return post("email=+form%40example.com+&password=x", "application/x-www-form-urlencoded")
		}, 201, `{"id":5,"email":"form@example.com"}`},
		{"duplicate e-mail", func() response { return post(`{"email":"jane@example.com","password":"x"}`, "application/json") },
			400, `{"email":["user with this email already exists."]}`},
		{"missing fields", func() response { return post(`{}`, "application/json") },
			400, `{"email":["This field is required."],"password":["This field is required."]}`},
		{"blank and null", func() response { return post(`{"email":"  ","password":null}`, "application/json") },
			400, `{"email":["This field may not be blank."],"password":["This field may not be null."]}`},
		{"not an e-mail", func() response { return post(`{"email":"nope@","password":"x"}`, "application/json") },
			400, `{"email":["Enter a valid email address."]}`},
		{"not a string", func() response { return post(`{"email":["a@b.co"],"password":"x"}`, "application/json") },
			400, `{"email":["Not a valid string."]}`},
		{"too long", func() response {
			return post(`{"email":"`+strings.Repeat("a", 250)+`@@example.com","password":"x"}`, "application/json")
		}, 400, `{"email":["Ensure this field has no more than 255 characters.","Enter a valid email address."]}`},
		{"not an object", func() response { return post(`[1]`, "application/json") },
			400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
		{"bad JSON", func() response { return post(`{`, "application/json") }, 400, ""},
		{"media type", func() response { return post(`x`, "text/plain") },
			415, `{"detail":"Unsupported media type \"text/plain\" in request."}`},
		{"get", func() response { return do(t, h, "GET", "/api/users/4/", tokenAuth, nil, "") },
			200, `{"id":4,"email":"new@example.com"}`},
		{"patch e-mail", func() response { return patch("1", `{"email":"jane.doe@example.com"}`) },
			200, `{"id":1,"email":"jane.doe@example.com"}`},
		{"patch to a taken e-mail", func() response { return patch("1", `{"email":"zoe@example.org"}`) },
			400, `{"email":["user with this email already exists."]}`},
		{"patch own e-mail again", func() response { return patch("1", `{"email":"jane.doe@example.com"}`) },
			200, `{"id":1,"email":"jane.doe@example.com"}`},
		{"patch password only", func() response { return patch("2", `{"password":"new"}`) },
			200, `{"id":2,"email":"Sean.OBrien@Example.com"}`},
		{"patch unknown", func() response { return patch("99", `{"password":"new"}`) }, 404, `{"detail":"Not found."}`},
		{"list filter", func() response {
			return do(t, h, "GET", "/api/users/?thirdpartyissueruser__email=new@example.com", tokenAuth, nil, "")
		}, 200, `{"count":1,"next":null,"previous":null,"results":[{"id":4,"email":"new@example.com"}]}`},
		{"investments follow the new e-mail", func() response {
			return do(t, h, "GET", "/api/investments/?investor__user__email=jane.doe@example.com&page_size=1", keyAuth, nil, "")
		}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.send()
			if r.status != tt.status || (tt.body != "" && string(r.body) != tt.body) {
				t.Fatalf("%d %s\nwant %d %s", r.status, r.body, tt.status, tt.body)
			}
		})
	}
	// The e-mail change moved the investments' filter and search results
	// (the count cache was invalidated).
	p := decodePage(t, do(t, h, "GET", "/api/investments/?search=jane.doe", keyAuth, nil, ""))
	if p.Count != 3 {
		t.Fatalf("search after the e-mail change: count %d, want 3", p.Count)
	}
}

// TestConcurrentRequests mixes list queries (through the count cache) with
// user writes (which invalidate it) from several goroutines; run with
// -race. Every answer must still be right.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				if g%3 == 0 {
					body := fmt.Sprintf(`{"email":"c%d.%d@example.com","password":"x"}`, g, i)
					if r := do(t, h, "POST", "/api/users/", tokenAuth, strings.NewReader(body), "application/json"); r.status != 201 {
						errs <- fmt.Sprintf("create: %d %s", r.status, r.body)
						return
					}
					continue
				}
				r := do(t, h, "GET", "/api/investments/?search=jane&status__in=received,cancelled", keyAuth, nil, "")
				var p page
				if json.Unmarshal(r.body, &p) != nil || p.Count != 3 {
					errs <- fmt.Sprintf("list: %d %s", r.status, r.body)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// jane@example.com, Sean.OBrien@Example.com (icontains) and the 60 new
	// users; zoe@example.org does not match.
	p := decodePage(t, do(t, h, "GET", "/api/users/?search=%40example.com&page_size=1", tokenAuth, nil, ""))
	if p.Count != 62 {
		t.Fatalf("users matching @example.com: %d, want 62", p.Count)
	}
}
