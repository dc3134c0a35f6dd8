package jsonx

import (
	"strconv"
	"testing"

	"github.com/ferry-dev/ferry/internal/cputime"
)

// orderRecord is a realistic source record of about 330 bytes: nested
// customer, an array of lines, a decimal total, a non-ASCII name.
func orderRecord(id int) []byte {
	n := strconv.Itoa(id)
	return []byte(`{"id":` + n + `,"number":"SO-` + n + `","email":"customer` + n + `@example.com",` +
		`"status":"paid","total":365.45,"currency":"EUR","customer":{"name":"Zoë Customer ` + n +
		`","country":"DE","vip":false},"lines":[{"sku":"SKU-` + n + `","qty":3,"price":19.90},` +
		`{"sku":"SKU-7","qty":1,"price":305.75}],"note":null,` +
		`"updated_at":"2026-01-02T10:30:00Z"}`)
}

// orderPage is a source page of n records, as an HTTP source reads it.
func orderPage(n int) []byte {
	b := []byte(`{"data":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, orderRecord(100000+i)...)
	}
	return append(b, `],"meta":{"next_url":null}}`...)
}

// benchmarkDecode reports cpu-ns/op besides ns/op: on the shared 2-core
// machine the wall clock moves with the others' load, CPU time hardly.
func benchmarkDecode(b *testing.B, data []byte, decode func([]byte) (any, error)) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start := cputime.Process()
	for b.Loop() {
		if _, err := decode(data); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cputime.Process() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkDecodeRecord(b *testing.B) { benchmarkDecode(b, orderRecord(123456), Decode) }
func BenchmarkDecodePage(b *testing.B)   { benchmarkDecode(b, orderPage(1000), Decode) }

// The same with encoding/json, as Decode was before parse.
func BenchmarkDecodeStdRecord(b *testing.B) { benchmarkDecode(b, orderRecord(123456), decodeStd) }
func BenchmarkDecodeStdPage(b *testing.B)   { benchmarkDecode(b, orderPage(1000), decodeStd) }

// A JSON column's value, decoded through the read's Cache as the SQL
// source does, and without it.
var columnValue = []byte(`{"name": "Customer 17", "country": "DE", "lines": [{"sku": "SKU-17", "qty": 3, "price": 19.90}]}`)

func BenchmarkDecodeColumn(b *testing.B) { benchmarkDecode(b, columnValue, Decode) }
func BenchmarkCacheDecodeColumn(b *testing.B) {
	benchmarkDecode(b, columnValue, new(Cache).Decode)
}
