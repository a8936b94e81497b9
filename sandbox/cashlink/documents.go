package cashlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

type documentJSON struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	CreatedAt   string `json:"created_at"`
}

// createDocument is POST /v2/documents/: multipart/form-data with the file
// in the field "file". The content is stored as sent, whatever it is (the
// guide uploads b'ASD' named .pdf; the console checks PDFs itself).
func (e *Emulator) createDocument(tx *sql.Tx, rq *request) (answer, error) {
	ct := rq.r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		return answer{}, &apiError{detail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))}
	}
	if params["boundary"] == "" {
		return answer{}, &apiError{detail(http.StatusBadRequest, "Multipart form parse error - Invalid boundary in multipart: None")}
	}
	mr := multipart.NewReader(bytes.NewReader(rq.body), params["boundary"])
	var (
		found       bool
		filename    string
		contentType string
		content     []byte
	)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return answer{}, &apiError{detail(http.StatusBadRequest, "Multipart form parse error - "+err.Error())}
		}
		if part.FormName() != "file" || found {
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		if part.FileName() == "" { // a plain form field, not a file
			_, _ = io.Copy(io.Discard, part)
			return answer{}, fieldError("file", "The submitted data was not a file. Check the encoding type on the form.")
		}
		b, err := io.ReadAll(io.LimitReader(part, MaxDocumentSize+1))
		if err != nil {
			return answer{}, &apiError{detail(http.StatusBadRequest, "Multipart form parse error - "+err.Error())}
		}
		if len(b) > MaxDocumentSize {
			return answer{}, &apiError{detail(http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than %d bytes.", MaxDocumentSize))}
		}
		found, filename, content = true, part.FileName(), b
		contentType = part.Header.Get("Content-Type")
		if contentType == "" {
			contentType = "application/octet-stream"
		}
	}
	if !found {
		return answer{}, fieldError("file", "No file was submitted.")
	}
	if len(content) == 0 {
		return answer{}, fieldError("file", "The submitted file is empty.")
	}
	if len([]rune(filename)) > 255 {
		return answer{}, fieldError("file", fmt.Sprintf("Ensure this filename has at most 255 characters (it has %d).", len([]rune(filename))))
	}
	sum := sha256.Sum256(content)
	now := e.now()
	doc := documentJSON{ID: newID(), Filename: filename, ContentType: contentType, Size: int64(len(content)),
		SHA256: hex.EncodeToString(sum[:]), CreatedAt: formatTime(now)}
	if _, err := tx.ExecContext(rq.ctx, `INSERT INTO cl_documents (id, client_id, filename, content_type, size, sha256, content, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, doc.ID, rq.clientID, filename, contentType, doc.Size, sum[:], content, micros(now)); err != nil {
		return answer{}, fmt.Errorf("insert document: %w", err)
	}
	return jsonAnswer(http.StatusCreated, doc), nil
}

// Document is a stored upload, for tests and the control endpoint.
type Document struct {
	ID, Filename, ContentType string
	Content                   []byte
}

// Document reads an uploaded document by id.
func (e *Emulator) Document(ctx context.Context, id string) (Document, error) {
	d := Document{ID: id}
	err := e.db.QueryRowContext(ctx, `SELECT filename, content_type, content FROM cl_documents WHERE id = ?`, id).
		Scan(&d.Filename, &d.ContentType, &d.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("document %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("cashlink: reading document: %w", err)
	}
	return d, nil
}
