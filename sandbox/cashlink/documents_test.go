package cashlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestDocuments(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	upload := func(body []byte, ctype string) resp {
		return v.do("POST", "/v2/documents/", v.tok, body, map[string]string{"Content-Type": ctype})
	}
	content := []byte("ASD") // the guide's content: not a PDF, accepted
	ok, okCT := multipartBody(t, "file", "signed_doc_1.pdf", "application/pdf", content)
	noType, noTypeCT := multipartBody(t, "file", "x.bin", "", []byte{0, 1, 2})
	other, otherCT := multipartBody(t, "document", "a.pdf", "application/pdf", content)
	empty, emptyCT := multipartBody(t, "file", "a.pdf", "application/pdf", nil)
	big, bigCT := multipartBody(t, "file", "big.pdf", "application/pdf", bytes.Repeat([]byte("x"), MaxDocumentSize+1))
	atMax, atMaxCT := multipartBody(t, "file", "max.pdf", "application/pdf", bytes.Repeat([]byte("y"), MaxDocumentSize))
	sum := sha256.Sum256(content)
	tests := []struct {
		name      string
		body      []byte
		ctype     string
		status    int
		fragments []string
	}{
		{"the guide's upload", ok, okCT, 201, []string{`"filename":"signed_doc_1.pdf"`, `"content_type":"application/pdf"`, `"size":3`, `"sha256":"` + hex.EncodeToString(sum[:]) + `"`}},
		{"no part content type", noType, noTypeCT, 201, []string{`"content_type":"application/octet-stream"`}},
		{"exactly the maximum size", atMax, atMaxCT, 201, []string{`"size":10485760`}},
		{"field not named file", other, otherCT, 400, []string{`"file":["No file was submitted."]`}},
		{"empty file", empty, emptyCT, 400, []string{`"file":["The submitted file is empty."]`}},
		{"too large", big, bigCT, 413, []string{"10485760"}},
		{"JSON", []byte(`{"file":"QVNE"}`), "application/json", 415, []string{"Unsupported media type"}},
		{"no boundary", ok, "multipart/form-data", 400, []string{"Multipart form parse error"}},
		{"broken multipart", []byte("--testboundary0123456789\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nABC"), okCT, 400, []string{"Multipart form parse error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := upload(tt.body, tt.ctype)
			wantErrBody(t, r, tt.status, tt.fragments...)
		})
	}
	t.Run("bytes are stored", func(t *testing.T) {
		r := upload(ok, okCT)
		id := r.obj(t)["id"].(string)
		d, err := v.e.Document(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Content, content) || d.Filename != "signed_doc_1.pdf" || d.ContentType != "application/pdf" {
			t.Fatalf("stored %+v", d)
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		r := v.get("/v2/documents/")
		wantErrBody(t, r, 405, `Method \"GET\" not allowed.`)
		if r.header.Get("Allow") != "POST" {
			t.Errorf("Allow = %q", r.header.Get("Allow"))
		}
	})
	if c := v.counts(); c.Documents != 4 {
		t.Fatalf("documents = %d, want 4", c.Documents)
	}
}
