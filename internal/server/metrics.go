package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 10 * time.Second

// metrics is the server's own Prometheus registry (never the global
// default one): Go and process collectors, collectors that read the
// store and the service at scrape time, and counters fed by events.
type metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	deliveries       *prometheus.CounterVec
	deliveryDuration *prometheus.HistogramVec
	runs             *prometheus.CounterVec
	runDuration      *prometheus.HistogramVec
	webhooks         *prometheus.CounterVec

	sub  *events.Subscription
	wg   sync.WaitGroup
	once sync.Once
}

func newMetrics(svc Service, log *slog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_deliveries_total",
			Help: "Delivery attempts of entries by route, destination and outcome (done, skipped, error, dead, unchanged).",
		}, []string{"route", "destination", "outcome"}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ferry_delivery_duration_seconds",
			Help:    "Time a destination took to answer a delivery (per attempt; a batch's time counts for each of its entries).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5ms .. ~41s
		}, []string{"route", "destination"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_runs_total",
			Help: "Runs that ended, by route and status.",
		}, []string{"route", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ferry_run_duration_seconds",
			Help:    "Duration of runs that ended, by route.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10), // 100ms .. ~7h
		}, []string{"route"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_webhook_requests_total",
			Help: "Webhook calls by route and HTTP status code (route \"\" for unknown routes).",
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.deliveries, m.deliveryDuration, m.runs, m.runDuration, m.webhooks,
		&stateCollector{svc: svc, log: log},
	)
	m.sub = svc.Events().Subscribe(4096, func(ev events.Event) bool {
		// Each process counts its own runs: another process's events
		// (Origin set) are counted by that process's /metrics.
		return ev.Origin == "" && (ev.Type == events.EntrySettled || ev.Type == events.RunFinished)
	})
	m.wg.Add(1)
	go m.consume()
	return m
}

// consume counts events until the subscription closes (Server.Close).
func (m *metrics) consume() {
	defer m.wg.Done()
	for ev := range m.sub.C {
		switch ev.Type {
		case events.EntrySettled:
			a := ev.Attempt
			if a == nil || a.Op != "" { // operations and user commands are no deliveries
				continue
			}
			m.deliveries.WithLabelValues(ev.Route, ev.Destination, string(a.Outcome)).Inc()
			switch a.Outcome {
			case store.OutcomeDone, store.OutcomeRetry, store.OutcomeDead:
				m.deliveryDuration.WithLabelValues(ev.Route, ev.Destination).Observe(float64(a.DurationMillis) / 1000)
			}
		case events.RunFinished:
			if r := ev.Run; r != nil {
				m.runs.WithLabelValues(ev.Route, string(r.Status)).Inc()
				if !r.EndedAt.IsZero() && !r.StartedAt.IsZero() {
					m.runDuration.WithLabelValues(ev.Route).Observe(r.EndedAt.Sub(r.StartedAt).Seconds())
				}
			}
		}
		if n := m.sub.Dropped(); n > 0 {
			m.log.Warn("metrics lost events: the subscriber fell behind", "dropped", n)
		}
	}
}

func (m *metrics) webhookRequest(route string, code int) {
	m.webhooks.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

func (m *metrics) close() {
	m.once.Do(func() {
		m.sub.Close()
		m.wg.Wait()
	})
}

// stateCollector reads queue sizes from the store and freshness and
// skipped ticks from the service at scrape time, so the figures hold
// for every process sharing the store.
type stateCollector struct {
	svc Service
	log *slog.Logger
}

var (
	descEntries = prometheus.NewDesc("ferry_entries",
		"Entries by route and status (pending, error, leased, dead; outbox and outbox_dead: operations owed and given up).",
		[]string{"route", "status"}, nil)
	descLastSuccess = prometheus.NewDesc("ferry_route_last_success_timestamp_seconds",
		"When the route's last successful run ended (Unix time); absent when it never succeeded.",
		[]string{"route"}, nil)
	descStale = prometheus.NewDesc("ferry_route_stale",
		"1 when the route's last success is older than its fresh_within, else 0.",
		[]string{"route"}, nil)
	descSkipped = prometheus.NewDesc("ferry_schedule_ticks_skipped_total",
		"Scheduled ticks skipped because the route was still running.",
		[]string{"route"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEntries
	ch <- descLastSuccess
	ch <- descStale
	ch <- descSkipped
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	cfg := c.svc.Config()
	if cfg != nil {
		st := c.svc.Store()
		for _, route := range cfg.RouteNames() {
			n, err := st.Counts(ctx, route)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(descEntries, err)
				continue
			}
			for status, v := range map[string]int{
				"pending": n.Pending, "error": n.Error, "leased": n.Leased, "dead": n.Dead,
				"outbox": n.Outbox, "outbox_dead": n.OutboxDead,
			} {
				ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(v), route, status)
			}
		}
	}
	states, err := c.svc.Routes(ctx)
	if err != nil {
		c.log.Warn("metrics: route states", "err", err)
		return
	}
	for _, rs := range states {
		if !rs.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue,
				float64(rs.LastSuccess.UnixNano())/1e9, rs.Name)
		}
		stale := 0.0
		if rs.Stale {
			stale = 1
		}
		ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, stale, rs.Name)
		ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(rs.SkippedTicks), rs.Name)
	}
}
