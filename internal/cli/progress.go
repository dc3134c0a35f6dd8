package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
)

// progressPrinter shows a run's progress: a redrawn bar on a terminal,
// a plain line every few seconds otherwise (logs, CI).
type progressPrinter struct {
	w         io.Writer
	route     string
	tty       bool
	lastPlain time.Time
	drawn     bool
	last      engine.Progress
}

func newProgressPrinter(w io.Writer, route string, tty bool) *progressPrinter {
	return &progressPrinter{w: w, route: route, tty: tty}
}

func (p *progressPrinter) update(pr engine.Progress) {
	p.last = pr
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", progressLine(pr, true))
		p.drawn = true
		return
	}
	if pr.Phase == "finished" || time.Since(p.lastPlain) < 2*time.Second {
		return
	}
	p.lastPlain = time.Now()
	fmt.Fprintln(p.w, progressLine(pr, false))
}

func (p *progressPrinter) finish() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// progressLine renders one progress line. The bar is the share of
// collected records that are settled (delivered, skipped or dead).
func progressLine(pr engine.Progress, bar bool) string {
	settled := pr.Done + pr.Skipped + pr.Dead
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-10s", pr.Route, pr.Phase)
	if bar && pr.Collected > 0 {
		frac := float64(settled) / float64(pr.Collected)
		frac = min(max(frac, 0), 1)
		const width = 24
		filled := int(frac * width)
		fmt.Fprintf(&b, " [%s%s] %3d%%", strings.Repeat("█", filled), strings.Repeat("░", width-filled), int(frac*100))
	}
	fmt.Fprintf(&b, "  iter %d/%d  read %s  done %s  err %s  dead %s  skip %s",
		pr.Iteration, pr.MaxIterations, num(pr.Collected), num(pr.Done), num(pr.Failed), num(pr.Dead), num(pr.Skipped))
	if pr.Unchanged > 0 {
		fmt.Fprintf(&b, "  unchanged %s", num(pr.Unchanged))
	}
	if secs := pr.Elapsed.Seconds(); secs > 0.5 {
		fmt.Fprintf(&b, "  %s rec/s", num(int(float64(settled)/secs)))
	}
	return b.String()
}
