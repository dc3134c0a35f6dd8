package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// chart is an SVG drawn on the server: no script, no library, readable
// by a screen reader through its title and a text summary.
type chart struct {
	SVG     template.HTML // built from numbers and escaped labels only
	Summary string
	Empty   bool
	// Peak, From and To label a section chart (its highest bar and its
	// time span), shown as HTML around it.
	Peak, From, To string
}

// buckets counts delivered (ok) and failed records in equal time slices
// of [from, to).
type buckets struct {
	from, to time.Time
	step     time.Duration
	ok, bad  []float64
}

func newBuckets(from, to time.Time, n int) *buckets {
	step := to.Sub(from) / time.Duration(n)
	if step <= 0 {
		step = time.Second
	}
	return &buckets{from: from, to: to, step: step, ok: make([]float64, n), bad: make([]float64, n)}
}

// addRun spreads a run's delivered and failed records over the slices
// its run time overlaps (a running run up to now), in proportion.
func (b *buckets) addRun(run store.Run, now time.Time) {
	start, end := run.StartedAt, run.EndedAt
	if end.IsZero() {
		end = now
	}
	if !end.After(start) {
		end = start.Add(time.Millisecond)
	}
	total := end.Sub(start)
	for i := range b.ok {
		s := b.from.Add(time.Duration(i) * b.step)
		e := s.Add(b.step)
		lo, hi := later(s, start), earlier(e, end)
		if !hi.After(lo) {
			continue
		}
		share := float64(hi.Sub(lo)) / float64(total)
		b.ok[i] += share * float64(run.Done)
		b.bad[i] += share * float64(run.Failed)
	}
}

// addAttempt counts one attempt in its slice.
func (b *buckets) addAttempt(at time.Time, ok bool) {
	if at.Before(b.from) || !at.Before(b.to) {
		return
	}
	i := int(at.Sub(b.from) / b.step)
	if i >= len(b.ok) {
		i = len(b.ok) - 1
	}
	if ok {
		b.ok[i]++
	} else {
		b.bad[i]++
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (b *buckets) totals() (ok, bad float64, peak float64) {
	for i := range b.ok {
		ok += b.ok[i]
		bad += b.bad[i]
		if v := b.ok[i] + b.bad[i]; v > peak {
			peak = v
		}
	}
	return ok, bad, peak
}

// spark is a small stacked bar chart for a table cell.
func (b *buckets) spark() chart {
	ok, bad, peak := b.totals()
	summary := fmt.Sprintf("%s delivered, %s failed", humanNumber(int(ok+0.5)), humanNumber(int(bad+0.5)))
	const w, h = 120.0, 24.0
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="spark" viewBox="0 0 %g %g" role="img" aria-label="%s"><title>%s</title>`, w, h, html.EscapeString(summary), html.EscapeString(summary))
	b.drawBars(&s, 0, 0, w, h, peak)
	s.WriteString(`</svg>`)
	return chart{SVG: template.HTML(s.String()), Summary: summary, Empty: ok+bad == 0}
}

// bars is a chart for a section: the bars alone in the SVG (it scales
// with the page's width), its labels beside it in HTML (so they keep
// their size on a phone and on a wide screen).
func (b *buckets) bars(title string) chart {
	ok, bad, peak := b.totals()
	summary := fmt.Sprintf("%s: %s delivered, %s failed", title, humanNumber(int(ok+0.5)), humanNumber(int(bad+0.5)))
	const w, h = 600.0, 120.0
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %g %g" preserveAspectRatio="none" role="img" aria-label="%s"><title>%s</title>`, w, h, html.EscapeString(summary), html.EscapeString(summary))
	fmt.Fprintf(&s, `<line class="axis" x1="0" y1="%g" x2="%g" y2="%g" vector-effect="non-scaling-stroke"/>`, h-0.5, w, h-0.5)
	b.drawBars(&s, 0, 2, w, h-3, peak)
	s.WriteString(`</svg>`)
	return chart{
		SVG: template.HTML(s.String()), Summary: summary, Empty: ok+bad == 0,
		Peak: humanNumber(int(peak + 0.5)), From: b.from.UTC().Format("15:04"), To: b.to.UTC().Format("15:04") + " UTC",
	}
}

// drawBars draws one stacked bar per slice (delivered below, failed on
// top) into the box at x, y of width w and height h.
func (b *buckets) drawBars(s *strings.Builder, x, y, w, h, peak float64) {
	if peak <= 0 {
		return
	}
	n := float64(len(b.ok))
	bw := w / n
	gap := bw * 0.15
	for i := range b.ok {
		bx := x + float64(i)*bw + gap/2
		okH := h * b.ok[i] / peak
		badH := h * b.bad[i] / peak
		if okH > 0 {
			fmt.Fprintf(s, `<rect class="ok" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, bx, y+h-okH, bw-gap, okH)
		}
		if badH > 0 {
			fmt.Fprintf(s, `<rect class="bad" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, bx, y+h-okH-badH, bw-gap, badH)
		}
	}
}
