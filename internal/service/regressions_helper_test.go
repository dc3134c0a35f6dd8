package service_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func httptestServer(t *testing.T, got func(string)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got(string(b))
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
