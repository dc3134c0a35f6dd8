package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ferry-dev/ferry/internal/connector"
)

var _ connector.Waker = (*Source)(nil)

// Wake wakes the route when its capture trigger notifies (PostgreSQL
// LISTEN on the channel ferry_<route>). It also wakes once each time the
// listening connection is (re)established, as notifications sent while
// it was down are lost. A source without capture, or on MariaDB/MySQL,
// never wakes by itself: its channel only closes when ctx ends.
//
// The listening connection is one of the system's pool, held while ctx
// lasts and discarded afterwards (it carries the LISTEN).
func (s *Source) Wake(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	c, err := s.captureConfig()
	if err != nil || s.db.dialect.name != "postgres" {
		go func() {
			<-ctx.Done()
			close(ch)
		}()
		return ch
	}
	go s.listen(ctx, namesOf(c).channel, c.log, ch)
	return ch
}

// listen keeps a LISTEN going until ctx ends, reconnecting with a
// growing pause (1 s to 30 s) when the connection breaks.
func (s *Source) listen(ctx context.Context, channel string, log *slog.Logger, ch chan struct{}) {
	defer close(ch)
	pause := time.Second
	for {
		listening, err := s.listenOnce(ctx, channel, ch)
		if listening {
			pause = time.Second
		}
		if err != nil && log != nil && ctx.Err() == nil {
			log.Warn("listen for captured changes; trying again", "channel", channel, "in", pause, "err", err.Error()) // redacted by errorf
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// wake signals ch without blocking: one pending wake stands for any
// number of notifications.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// listenOnce listens on one connection until it fails or ctx ends;
// listening reports whether LISTEN succeeded.
func (s *Source) listenOnce(ctx context.Context, channel string, ch chan struct{}) (listening bool, err error) {
	conn, err := s.db.pool.Conn(ctx)
	if err != nil {
		return false, s.db.errorf(err, "%s: listen on %s: connect", s.db.where, channel)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: unexpected driver connection %T", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+s.db.dialect.quote(channel)); err != nil {
			return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
		}
		listening = true
		wake(ch)
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				// Discard the connection: it carries the LISTEN, and a
				// wait cut short by ctx leaves it unusable anyway.
				return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
			}
			wake(ch)
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return listening, s.db.errorf(err, "%s: listen on %s", s.db.where, channel)
	}
	return listening, nil
}
