package rules

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/store"
)

// Accept carries out a store's Accept: it groups the pushes (see
// GroupPushes) and, when any has a record, runs one transaction by inTx
// (the store's, what names it for errors) in which accept queues each
// group; then it answers each push. Tx is the store's transaction type.
func Accept[Tx any](pushes []store.Push, inTx func(what string, f func(Tx) error) error, accept func(tx Tx, g Group) ([]store.Accepted, error)) ([][]store.Accepted, error) {
	groups, slots, err := GroupPushes(pushes)
	if err != nil {
		return nil, err
	}
	accepted := make([][]store.Accepted, len(groups))
	if AnyRecords(groups) {
		err = inTx(fmt.Sprintf("accept %d pushes", len(pushes)), func(tx Tx) error {
			for i, g := range groups {
				acc, err := accept(tx, g)
				if err != nil {
					return fmt.Errorf("route %q: %w", g.Route, err)
				}
				accepted[i] = acc
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	return Spread(slots, accepted), nil
}
