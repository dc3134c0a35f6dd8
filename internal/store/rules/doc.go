// Package rules holds the decisions the SQL stores (sqlite, postgres)
// make the same way: how pushes group into upserts, what a record read
// again is judged against, how a prune request and a status export map,
// which ticks a process may claim, what discard and replay may touch.
// Each store keeps its SQL and driver calls and asks this package what
// the rows it read mean, so the two cannot drift apart.
package rules
