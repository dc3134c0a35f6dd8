package config

import (
	"fmt"
	"sort"
	"strings"
)

// RouteNames returns the route names in file order.
func (c *Config) RouteNames() []string {
	if len(c.RouteOrder) == len(c.Routes) {
		return append([]string(nil), c.RouteOrder...)
	}
	// Built in code rather than loaded: fall back to a stable order.
	return orderedKeys(c.RouteOrder, c.Routes)
}

// Route returns the named route. Its error lists the defined routes and
// suggests the closest name.
func (c *Config) Route(name string) (*Route, error) {
	if r := c.Routes[name]; r != nil {
		return r, nil
	}
	names := c.RouteNames()
	if len(names) == 0 {
		return nil, fmt.Errorf("unknown route %q: no routes are defined", name)
	}
	return nil, fmt.Errorf("unknown route %q%s (defined routes: %s)", name, didYouMean(name, names), strings.Join(names, ", "))
}

// Order sorts the named routes so that every route comes after the routes
// it depends on; among routes free to go, higher priority first, then file
// order. Dependencies outside names are not added. nil names means all
// routes.
func (c *Config) Order(names []string) ([]string, error) {
	if names == nil {
		names = c.RouteNames()
	}
	fileIndex := map[string]int{}
	for i, n := range c.RouteNames() {
		fileIndex[n] = i
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, err := c.Route(n); err != nil {
			return nil, fmt.Errorf("order routes: %w", err)
		}
		want[n] = true
	}
	// waiting counts each route's unmet dependencies within the set.
	waiting := map[string]int{}
	dependents := map[string][]string{}
	for n := range want {
		for _, dep := range c.Routes[n].DependsOn {
			if want[dep] && dep != n {
				waiting[n]++
				dependents[dep] = append(dependents[dep], n)
			}
		}
	}
	var ready []string
	for n := range want {
		if waiting[n] == 0 {
			ready = append(ready, n)
		}
	}
	before := func(a, b string) bool {
		pa, pb := c.Routes[a].Priority, c.Routes[b].Priority
		if pa != pb {
			return pa > pb
		}
		return fileIndex[a] < fileIndex[b]
	}
	out := make([]string, 0, len(want))
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return before(ready[i], ready[j]) })
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, d := range dependents[n] {
			if waiting[d]--; waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(out) < len(want) {
		var stuck []string
		for n := range want {
			if waiting[n] > 0 {
				stuck = append(stuck, n)
			}
		}
		sort.Slice(stuck, func(i, j int) bool { return fileIndex[stuck[i]] < fileIndex[stuck[j]] })
		return nil, fmt.Errorf("order routes: depends_on cycle among %s", strings.Join(stuck, ", "))
	}
	return out, nil
}
