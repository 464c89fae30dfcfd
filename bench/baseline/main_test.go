package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	body := &trackingReader{r: strings.NewReader(strings.Repeat("x", 10000))}
	req := httptest.NewRequest(http.MethodPost, "/", body)
	req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	rec := httptest.NewRecorder()
	handler(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := rec.Body.String(); got != `{"ok":true}` {
		t.Errorf("body %q", got)
	}
	if !body.eof {
		t.Error("the handler did not read the whole body")
	}
}

type trackingReader struct {
	r   io.Reader
	eof bool
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}
