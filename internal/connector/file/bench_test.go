package fileconn

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// benchRecords is the size of the files read and the runs written.
const benchRecords = 100_000

// writeBenchFile writes n order records in a format.
func writeBenchFile(b *testing.B, path, format string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	switch format {
	case "csv":
		fmt.Fprintln(w, "id,customer,email,total,status,updated_at")
	case "json":
		fmt.Fprintln(w, "[")
	}
	for i := range n {
		switch format {
		case "csv":
			fmt.Fprintf(w, "%d,Customer %d,c%d@example.com,%d.%02d,paid,2026-11-30T04:38:39Z\n", i, i%977, i, i%5000, i%100)
		default:
			sep := ""
			if format == "json" && i < n-1 {
				sep = ","
			}
			fmt.Fprintf(w, `{"id":%d,"customer":"Customer %d","email":"c%d@example.com","total":%d.%02d,"status":"paid","updated_at":"2026-11-30T04:38:39Z"}%s`+"\n", i, i%977, i, i%5000, i%100, sep)
		}
	}
	if format == "json" {
		fmt.Fprintln(w, "]")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// BenchmarkSourceRead: records/s read from one file of 100,000 records,
// paged by 1000 (no Ack: the file is read again each iteration).
func BenchmarkSourceRead(b *testing.B) {
	for _, format := range formats {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			writeBenchFile(b, filepath.Join(dir, "orders."+format), format, benchRecords)
			cfg := SourceConfig{Dir: dir, Format: format, Key: "id"}
			if format == "csv" {
				cfg.Types = map[string]string{"id": "int", "total": "number"}
			}
			s, err := NewSource(connector.Env{}, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				n := 0
				err := s.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
					n += len(p.Records)
					return nil
				})
				if err != nil || n != benchRecords {
					b.Fatalf("read %d records: %v", n, err)
				}
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkDestinationWrite: records/s written in one run of 100,000
// records in batches of 500, each batch synced, then published.
func BenchmarkDestinationWrite(b *testing.B) {
	const batch = 500
	for _, format := range formats {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			cfg := DestinationConfig{Dir: dir, Format: format, Name: "{route}-{run_id}.{ext}"}
			if format == "csv" {
				cfg.Columns = []string{"id", "customer", "email", "total", "status", "updated_at"}
			}
			d, err := NewDestination(connector.Env{Route: "orders"}, cfg)
			if err != nil {
				b.Fatal(err)
			}
			batches := make([][]connector.Delivery, benchRecords/batch)
			for i := range batches {
				batches[i] = make([]connector.Delivery, batch)
				for j := range batches[i] {
					k := i*batch + j
					batches[i][j] = connector.Delivery{Key: fmt.Sprint(k), Record: connector.Record{
						"id": float64(k), "customer": fmt.Sprintf("Customer %d", k%977), "email": fmt.Sprintf("c%d@example.com", k),
						"total": float64(k%5000) + 0.25, "status": "paid", "updated_at": "2026-11-30T04:38:39Z",
					}}
				}
			}
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			id := int64(0)
			for b.Loop() {
				id++
				info := connector.RunInfo{ID: id, Route: "orders", Started: time.Now()}
				if err := d.StartRun(ctx, info); err != nil {
					b.Fatal(err)
				}
				for _, bt := range batches {
					res, err := d.Send(ctx, bt)
					if err != nil || !res[len(res)-1].OK {
						b.Fatalf("send: %v %+v", err, res[len(res)-1])
					}
				}
				if err := d.EndRun(ctx, info, true); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(filepath.Join(dir, fmt.Sprintf("orders-%d.%s", id, format)))
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkSourceMemory reports the peak heap while reading one file of
// 100,000 and of 1,000,000 records: it stays flat, however large the file.
func BenchmarkSourceMemory(b *testing.B) {
	for _, format := range formats {
		for _, n := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%d", format, n), func(b *testing.B) {
				dir := b.TempDir()
				path := filepath.Join(dir, "orders."+format)
				writeBenchFile(b, path, format, n)
				info, _ := os.Stat(path)
				s, err := NewSource(connector.Env{}, SourceConfig{Dir: dir, Format: format, Key: "id"})
				if err != nil {
					b.Fatal(err)
				}
				var peak uint64
				var ms runtime.MemStats
				runtime.GC()
				b.ResetTimer()
				for b.Loop() {
					err := s.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
						if p.Number%10 == 0 {
							runtime.ReadMemStats(&ms)
							peak = max(peak, ms.HeapInuse)
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(info.Size())/(1<<20), "file-MB")
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			})
		}
	}
}
