package config

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Defaults the engine relies on; Load fills them in, so a loaded Config
// never holds a zero where a default exists.
const (
	DefaultStore         = "ferry.db"       // SQLite file beside the config file
	DefaultBatch         = 100              // entries per delivery batch
	DefaultAttempts      = 5                // delivery attempts before a dead letter
	DefaultBackoff       = 10 * time.Second // first retry delay, doubled per attempt
	DefaultMaxBackoff    = time.Hour        // longest retry delay
	DefaultMaxIterations = 20               // collect+send rounds per run
	DefaultCollectLimit  = 10000            // records read per iteration
	DeletesIgnore        = "ignore"         // deletes reported by a source are not sent
	DeletesSend          = "send"           // deletes are delivered as deletes

	DefaultRetainAttempts = 30 * 24 * time.Hour // attempts of delivered records
	DefaultRetainRuns     = 90 * 24 * time.Hour // finished runs
)

// applyDefaults fills every option left out. It runs after interpolation
// and before validation; values that are wrong (negative batch) are left
// for validation to report.
func applyDefaults(cfg *Config, baseDir string) {
	cfg.Store = resolveStore(cfg.Store, baseDir)
	if cfg.Retention.Attempts == 0 {
		cfg.Retention.Attempts = Duration(DefaultRetainAttempts)
	}
	if cfg.Retention.Runs == 0 {
		cfg.Retention.Runs = Duration(DefaultRetainRuns)
	}
	if cfg.Retention.DeadLetters == 0 {
		cfg.Retention.DeadLetters = Forever
	}
	if cfg.Retention.Delivered == 0 {
		cfg.Retention.Delivered = Forever
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Server.Listen == "" {
		cfg.Server.Listen = DefaultListen
	}
	if cfg.Server.ShutdownTimeout == 0 {
		cfg.Server.ShutdownTimeout = DefaultShutdownTimeout
	}
	for name, s := range cfg.Systems {
		if s == nil {
			continue
		}
		s.Name = name
		partDefaults(cfg.kinds, &s.Part, connector.RoleSystem)
	}
	for name, r := range cfg.Routes {
		if r == nil {
			continue
		}
		r.Name = name
		if r.Batch == 0 {
			r.Batch = DefaultBatch
		}
		if r.ErrorBatch == 0 {
			// Smaller batches in the error pass, so one bad record costs
			// little and errors never crowd out the main pass.
			r.ErrorBatch = max(1, r.Batch/10)
		}
		if r.Retry.Attempts == 0 {
			r.Retry.Attempts = DefaultAttempts
		}
		if r.Retry.Backoff == 0 {
			r.Retry.Backoff = Duration(DefaultBackoff)
		}
		if r.Retry.MaxBackoff == 0 {
			r.Retry.MaxBackoff = Duration(DefaultMaxBackoff)
		}
		if r.MaxIterations == 0 {
			r.MaxIterations = DefaultMaxIterations
		}
		if r.CollectLimit == 0 {
			r.CollectLimit = DefaultCollectLimit
		}
		if r.Deletes == "" {
			r.Deletes = DeletesIgnore
		}
		if w := r.Webhook; w != nil {
			webhookDefaults(w)
		}
		partDefaults(cfg.kinds, &r.Source.Part, connector.RoleSource)
		for _, d := range r.Destinations {
			if d != nil {
				partDefaults(cfg.kinds, &d.Part, connector.RoleDestination)
			}
		}
		for _, ops := range [][]Operation{r.After, r.OnError, r.OnStale} {
			for i := range ops {
				partDefaults(cfg.kinds, &ops[i].Part, connector.RoleOperation)
			}
		}
	}
}

// resolveStore anchors a relative SQLite path at the config file's
// directory, so ferry finds the same queue whatever the working directory.
// Absolute paths and URLs (postgres://...) are kept as written.
func resolveStore(store, baseDir string) string {
	if store == "" {
		store = DefaultStore
	}
	if strings.Contains(store, "://") || filepath.IsAbs(store) {
		return store
	}
	return filepath.Join(baseDir, store)
}

func webhookDefaults(w *Webhook) {
	if w.Respond == "" {
		w.Respond = RespondAsync
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	if w.MaxBody == 0 {
		w.MaxBody = DefaultMaxBody
	}
	if w.Signature != nil && w.Signature.Encoding == "" {
		w.Signature.Encoding = EncodingHex
	}
}
