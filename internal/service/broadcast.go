package service

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// wireEvent is an event on its way between processes.
type wireEvent struct {
	Origin string       `json:"o"`
	Event  events.Event `json:"e"`
}

// maxWire keeps a payload under PostgreSQL's NOTIFY limit (8000 bytes).
const maxWire = 7900

// bridge passes this process's run and route events to the other
// processes sharing the store, and theirs to this process's bus (with
// Origin set), so the API and dashboard of any process show every run as
// it goes. Only for stores that broadcast (PostgreSQL).
func (s *Service) bridge(ctx context.Context, b store.Broadcaster) {
	sub := s.bus.Subscribe(1024, func(ev events.Event) bool { return ev.Origin == "" && events.Shared(ev.Type) })
	s.loop(ctx, func(ctx context.Context) {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-sub.C:
				payload, err := json.Marshal(wireEvent{Origin: s.owner, Event: ev})
				if err != nil || len(payload) > maxWire {
					continue // too big to share: the store has the run anyway
				}
				if err := b.Broadcast(ctx, string(payload)); err != nil && ctx.Err() == nil {
					s.log.Warn("share an event with the other processes", "type", ev.Type, "err", err)
				}
			}
		}
	})
	s.loop(ctx, func(ctx context.Context) {
		for ctx.Err() == nil {
			err := b.Listen(ctx, func(payload string) {
				var w wireEvent
				if json.Unmarshal([]byte(payload), &w) != nil || w.Origin == s.owner {
					return
				}
				w.Event.Origin = w.Origin
				s.bus.Publish(w.Event)
			})
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("listen to the other processes' events; trying again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
}
