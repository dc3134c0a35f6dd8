package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkWebhookAsync posts single records to an async webhook from
// parallel clients over loopback: the server's share of the cost of a
// push (parse, authenticate, Accept's group commit, answer). The
// destination is held, so deliveries do not compete with the pushes.
func BenchmarkWebhookAsync(b *testing.B) {
	f := newFixture(b)
	release := f.sys.hold("hook")
	defer release()
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := []byte(`{"id": ` + strconv.FormatInt(n.Add(1), 10) + `, "name": "order", "total": 12.5}`)
			req, _ := http.NewRequest("POST", f.ts.URL+"/hooks/hook", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+hookToken)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 202 {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
