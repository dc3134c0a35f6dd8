package rules

import "github.com/ferry-dev/ferry/internal/store"

// ScanLeader reads a row of role, owner, until.
func ScanLeader(r Scanner) (store.Leader, error) {
	var (
		l     store.Leader
		until int64
	)
	err := r.Scan(&l.Role, &l.Owner, &until)
	l.Until = FromMS(until)
	return l, err
}

// ScanLeaseCount reads a row of route, owner, count, latest lease_until.
func ScanLeaseCount(r Scanner) (store.LeaseCount, error) {
	var (
		c     store.LeaseCount
		until int64
	)
	err := r.Scan(&c.Route, &c.Owner, &c.Entries, &until)
	c.Until = FromMS(until)
	return c, err
}
