package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Feeds lists what the route's destinations publish for download (those
// whose connector is a FeedPublisher, e.g. the file destination), in
// destination name order, each with its Destination name filled in. An
// unknown route is an error wrapping the config's "unknown route" error;
// a route without such destinations has no feeds (nil, no error).
func (e *Engine) Feeds(ctx context.Context, route string) ([]connector.Feed, error) {
	r, err := e.route(route)
	if err != nil {
		return nil, fmt.Errorf("feeds: %w", err)
	}
	names := make([]string, 0, len(r.destinations))
	for name := range r.destinations {
		names = append(names, name)
	}
	slices.Sort(names)
	var feeds []connector.Feed
	for _, name := range names {
		p, ok := r.destinations[name].conn.(connector.FeedPublisher)
		if !ok {
			continue
		}
		f, err := p.Feed(ctx)
		if err != nil {
			return nil, fmt.Errorf("route %q: destination %q: feed: %w", route, name, err)
		}
		f.Route, f.Destination = route, name
		feeds = append(feeds, f)
	}
	return feeds, nil
}
