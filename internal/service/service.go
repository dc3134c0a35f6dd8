package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/liveness"
	"github.com/ferry-dev/ferry/internal/store"
)

// Options configure a Service.
type Options struct {
	// Config is the loaded config; Load loads it again (SIGHUP, the API).
	Config *config.Config
	Load   func(ctx context.Context) (*config.Config, error)
	Store  store.Store
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests inject a fake one and
	// drive the passes themselves.
	Now func() time.Time
	// Version is recorded with the process's heartbeat.
	Version string
	// Listen is the API address, recorded with the heartbeat.
	Listen string
	// Owner names this process in leases, locks and heartbeats
	// (default host:pid:nonce).
	Owner string
	// Engine tunes the engines the service builds (Logger, Owner, Now
	// and Events are set by the service).
	Engine engine.Options
	// Every sets the period of the background passes (zero: defaults;
	// negative: never, for tests that drive the passes).
	Every Periods
	// Linger is how long the run of a webhook route waits for more
	// pushed records before it ends (default 1s).
	Linger time.Duration
}

// Periods are how often the background passes run.
type Periods struct {
	Schedule  time.Duration // scheduler pass (default 1s)
	Lead      time.Duration // leadership renewal, heartbeat and clock sync (default 2s)
	Rescue    time.Duration // rescuer pass (default 5s)
	Retain    time.Duration // retention (default 5m)
	Sweep     time.Duration // runs for webhook routes with work waiting (default 5s)
	Freshness time.Duration // freshness check (default 15s)
}

// leaderTerm is how long a leadership lasts without renewal: another
// process takes over within this after the leader dies.
// A survivor renews (and so takes over) every Periods.Lead: with a term of
// 6 s and a renewal every 2 s, another process leads within 8 s.
const leaderTerm = 6 * time.Second

// beatTerm is how long a heartbeat keeps a process alive. It is the
// leadership's term: both are renewed in the same pass, so a leader whose
// term ran out is also dead to the rescuer, and the process that takes
// over frees the dead leader's runs at once (issue 9: the schedule goes on
// within 10 s; with 10 s here a run the dead leader held kept its route
// 14 s).
const beatTerm = leaderTerm

// Service is the long-running engine. Its methods are safe for
// concurrent use.
type Service struct {
	opts  Options
	bus   *events.Bus
	log   *slog.Logger
	owner string
	now   func() time.Time
	// startTime is when the service was built (its heartbeat's start).
	startTime time.Time
	// clockOffset is the store's clock minus the host's, in nanoseconds
	// (0 for a store without a clock).
	clockOffset atomic.Int64

	acceptor *acceptor

	mu  sync.Mutex
	gen *generation // the config in force, its connectors and engine
	d   dispatcher
	// leader: this process holds the store's leadership (schedules,
	// rescuer and freshness run here).
	leader   bool
	stale    map[string]bool // routes flagged stale (leader only)
	freshMu  sync.Mutex      // one FreshnessPass at a time
	stopping bool
	started  bool

	wake    chan struct{} // the dispatcher has something to look at
	stopBG  context.CancelFunc
	bgDone  sync.WaitGroup
	runsCtx context.Context // parent of every run; cancelled at the stop deadline
	cancel  context.CancelFunc
	runs    sync.WaitGroup
	// accepting counts webhook calls between their check of stopping and
	// the commit of their records.
	accepting sync.WaitGroup
}

// generation is one loaded config with its connectors and engine. A
// reload makes a new one; the old one is closed when its last run ends.
type generation struct {
	cfg     *config.Config
	reg     *registry.Registry
	eng     *engine.Engine
	users   int  // runs using it
	retired bool // replaced: close when users drops to 0
}

// New builds a service for opts.Config; Start starts it.
func New(opts Options) (*Service, error) {
	if opts.Config == nil || opts.Store == nil {
		return nil, errors.New("service: Config and Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Owner == "" {
		opts.Owner = liveness.NewOwner()
	}
	p := &opts.Every
	p.Schedule = cmp(p.Schedule, time.Second)
	p.Lead = cmp(p.Lead, 2*time.Second)
	p.Rescue = cmp(p.Rescue, 5*time.Second)
	p.Retain = cmp(p.Retain, 5*time.Minute)
	p.Sweep = cmp(p.Sweep, 5*time.Second)
	p.Freshness = cmp(p.Freshness, 15*time.Second)
	s := &Service{
		opts: opts, bus: events.NewBus(), log: opts.Logger, owner: opts.Owner,
		stale: map[string]bool{}, wake: make(chan struct{}, 1),
	}
	// The service's clock: the host's, set to the store's when the store
	// has one (see syncClock).
	s.now = func() time.Time { return opts.Now().Add(time.Duration(s.clockOffset.Load())) }
	s.startTime = s.now()
	s.runsCtx, s.cancel = context.WithCancel(context.Background())
	s.d.init()
	gen, err := s.build(opts.Config)
	if err != nil {
		return nil, err
	}
	s.gen = gen
	s.acceptor = newAcceptor(opts.Store, s.now, s.inboxOf)
	return s, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// build makes the connectors and engine of a config.
func (s *Service) build(cfg *config.Config) (*generation, error) {
	reg, err := registry.New(cfg, registry.WithLogger(s.log))
	if err != nil {
		return nil, fmt.Errorf("build connectors: %w", err)
	}
	eo := s.opts.Engine
	eo.Logger, eo.Owner, eo.Now, eo.Events = s.log, s.owner, s.now, s.bus
	eo.RetentionByCaller = true // the leader's rescuer pass applies it
	eng, err := engine.New(cfg, s.opts.Store, reg, eo)
	if err != nil {
		_ = reg.Close()
		return nil, fmt.Errorf("build engine: %w", err)
	}
	return &generation{cfg: cfg, reg: reg, eng: eng}, nil
}

// Start starts the dispatcher, the leader loop (scheduler, rescuer,
// freshness) and the heartbeat. It returns at once.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("service: already started")
	}
	s.started = true
	s.mu.Unlock()
	// Heartbeat and leadership first, so a leader schedules from its
	// first pass.
	if err := s.leadPass(ctx); err != nil {
		s.mu.Lock()
		s.started = false // Stop has nothing to stop
		s.mu.Unlock()
		return fmt.Errorf("service: %w", err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBG = stop
	s.acceptor.start(bg)
	if b, ok := s.opts.Store.(store.Broadcaster); ok {
		s.bridge(bg, b)
	}
	s.loop(bg, s.dispatchLoop)
	s.loop(bg, func(ctx context.Context) {
		s.every(ctx, s.opts.Every.Lead, s.leadPass)
	})
	s.loop(bg, func(ctx context.Context) { s.every(ctx, s.opts.Every.Schedule, s.SchedulePass) })
	s.loop(bg, func(ctx context.Context) { s.every(ctx, s.opts.Every.Rescue, s.RescuePass) })
	s.loop(bg, func(ctx context.Context) { s.every(ctx, s.opts.Every.Retain, s.RetentionPass) })
	s.loop(bg, func(ctx context.Context) { s.every(ctx, s.opts.Every.Sweep, s.SweepPass) })
	s.loop(bg, func(ctx context.Context) { s.every(ctx, s.opts.Every.Freshness, s.FreshnessPass) })
	s.log.Info("ferry service started", "owner", s.owner, "routes", len(s.config().Routes), "workers", s.config().Workers)
	return nil
}

func (s *Service) loop(ctx context.Context, f func(context.Context)) {
	s.bgDone.Add(1)
	go func() {
		defer s.bgDone.Done()
		f(ctx)
	}()
}

// every runs pass now and then every d until ctx ends. A failing pass is
// logged and tried again at the next period. A negative d never runs it
// (tests drive the passes themselves).
func (s *Service) every(ctx context.Context, d time.Duration, pass func(context.Context) error) {
	if d < 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("background pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop stops taking new work and lets the runs going on finish; when ctx
// ends first they are cancelled, and each releases its leases and records
// itself cancelled. It returns when every run has ended.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	started := s.started
	var back []tickBack
	for _, r := range s.d.waiting {
		if !r.tick.IsZero() {
			back = append(back, tickBack{route: r.route, tick: r.tick})
		}
	}
	s.d.dropWaiting() // queued requests are not started any more
	s.mu.Unlock()
	if !started {
		return s.gen.reg.Close()
	}
	s.poke()
	if err := s.restoreTicks(context.WithoutCancel(ctx), back); err != nil {
		s.log.Warn("scheduled runs dropped by the stop", "err", err)
	}

	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("stop deadline reached: cancelling the runs going on; their leases go back to the queue")
		s.cancel()
		<-done
		err = fmt.Errorf("stop: runs cancelled at the deadline: %w", ctx.Err())
	}
	s.cancel()
	s.accepting.Wait() // their records are committed before the committer stops
	if s.stopBG != nil {
		s.stopBG()
	}
	s.bgDone.Wait()
	s.acceptor.wait()

	bg := context.WithoutCancel(ctx)
	st := s.opts.Store
	if rerr := st.Resign(bg, leaderRole, s.owner); rerr != nil {
		s.log.Warn("resign leadership", "err", rerr)
	}
	if ferr := st.ForgetProcess(bg, s.owner); ferr != nil {
		s.log.Warn("remove this process from the store", "err", ferr)
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	return errors.Join(err, gen.reg.Close())
}

// Config returns the config in force.
func (s *Service) Config() *config.Config { return s.config() }

func (s *Service) config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen.cfg
}

// Store returns the store.
func (s *Service) Store() store.Store { return s.opts.Store }

// Events returns the event bus.
func (s *Service) Events() *events.Bus { return s.bus }

// Owner is this process's identity in the store.
func (s *Service) Owner() string { return s.owner }

// Reload loads the config again and applies it when it is valid: runs
// going on finish on the config they started with, new runs take the new
// one. An invalid config is refused with its errors; the old one stays.
func (s *Service) Reload(ctx context.Context) error {
	if s.opts.Load == nil {
		return errors.New("reload: this service was started without a config file")
	}
	cfg, err := s.opts.Load(ctx)
	if err != nil {
		return err
	}
	gen, err := s.build(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.gen
	s.gen = gen
	old.retired = true
	closeOld := old.users == 0
	s.d.forgetRemoved(cfg)
	s.mu.Unlock()
	if closeOld {
		if err := old.reg.Close(); err != nil {
			s.log.Warn("close the connectors of the old config", "err", err)
		}
	}
	s.log.Info("config reloaded", "routes", len(cfg.Routes))
	s.poke()
	return nil
}

// Ready reports whether the service can take work: started, not
// stopping, and the store answers and is sound (store.Faulter).
func (s *Service) Ready(ctx context.Context) error {
	s.mu.Lock()
	started, stopping := s.started, s.stopping
	s.mu.Unlock()
	switch {
	case !started:
		return errors.New("not started")
	case stopping:
		return ErrStopping
	}
	if _, err := s.opts.Store.Processes(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if f, ok := s.opts.Store.(store.Faulter); ok {
		// A store that failed a sync answers, but refuses the webhooks'
		// durable commits until ferry restarts: not ready.
		if err := f.Fault(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// poke wakes the dispatcher.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// beat records this process in the store.
func (s *Service) beat(ctx context.Context) error {
	host, _ := os.Hostname()
	now := s.now()
	return s.opts.Store.Beat(ctx, store.Process{
		ID: s.owner, Host: host, PID: os.Getpid(), Version: s.opts.Version, Listen: s.opts.Listen,
		StartedAt: s.startTime, SeenAt: now, Until: now.Add(beatTerm),
	})
}

// acquire returns the generation in force and counts the caller as its
// user, so a reload does not close its connectors under it; release it.
func (s *Service) acquire() *generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.users++
	return s.gen
}

// release ends a use of gen begun by acquire (or by a run).
func (s *Service) release(gen *generation) {
	s.mu.Lock()
	gen.users--
	closeIt := gen.retired && gen.users == 0
	s.mu.Unlock()
	if closeIt {
		if err := gen.reg.Close(); err != nil {
			s.log.Warn("close the connectors of the old config", "err", err)
		}
	}
}

// syncClock sets the service's clock to the store's (store.Clock), so
// processes on hosts whose clocks differ agree on leases, locks and
// ticks. The offset is taken at the middle of the round trip.
func (s *Service) syncClock(ctx context.Context) error {
	c, ok := s.opts.Store.(store.Clock)
	if !ok {
		return nil
	}
	before := s.opts.Now()
	dbNow, err := c.Now(ctx)
	if err != nil {
		return err
	}
	after := s.opts.Now()
	s.clockOffset.Store(int64(dbNow.Sub(before.Add(after.Sub(before) / 2))))
	return nil
}
