// Package rules holds the decisions the SQL stores (sqlite, postgres)
// make the same way, so the two cannot drift apart: how Accept's pushes
// group into upserts, what a record read again is judged against
// (Content), how settlements fill attempts and owed outbox items, how a
// prune request maps onto its steps, which tick claims are valid and
// what they write, how discard, replay and resend mark their attempts,
// when a running run is abandoned, how migrations load, and how the
// stores' common rows (runs, attempts, ticks, leaders, processes) read.
// Each store keeps its SQL and driver calls and asks this package what
// the rows it read mean.
package rules
