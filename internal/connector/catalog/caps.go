package catalog

import (
	"slices"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Capabilities lists the known capabilities in the order of their
// declaration in internal/connector/module.go; the docs and `ferry
// connectors` list a part's capabilities in this order.
func Capabilities() []connector.Capability {
	return []connector.Capability{
		connector.CapCursor,
		connector.CapAck,
		connector.CapBatch,
		connector.CapPreview,
		connector.CapHealth,
		connector.CapUpsert,
		connector.CapDeletes,
		connector.CapPrune,
		connector.CapRunFile,
		connector.CapWake,
	}
}

// CapabilityDoc explains a capability in one line: the comment of its
// constant in internal/connector/module.go (TestCapabilityDocsMatchComments
// keeps the two equal), "" for a capability this package does not know.
func CapabilityDoc(c connector.Capability) string {
	switch c {
	case connector.CapCursor:
		return "the source can read incrementally from a stored position (the built source implements Incremental)."
	case connector.CapAck:
		return "the source acknowledges what it read only after the records are durably queued (Page.Ack); unacknowledged input is read again."
	case connector.CapBatch:
		return "the destination sends a batch in one request or transaction (per-record results still settle each record)."
	case connector.CapPreview:
		return "the destination describes a send for dry runs (Previewer)."
	case connector.CapHealth:
		return "the system answers a health check (HealthChecker)."
	case connector.CapUpsert:
		return "the destination writes keyed records idempotently, so a replay has no double effect."
	case connector.CapDeletes:
		return "the source reports deleted keys / the destination applies deletes (Delivery.Deleted)."
	case connector.CapPrune:
		return "the source can tell which keys still exist (KeyChecker), so records deleted after capture are pruned before sending."
	case connector.CapRunFile:
		return "the destination writes one complete file per run (RunScoped), published atomically."
	case connector.CapWake:
		return "the source can wake its route when new data arrives (Waker), e.g. PostgreSQL LISTEN/NOTIFY or a broker consumer."
	}
	return ""
}

// sortCaps orders caps as Capabilities does, unknown ones last by name,
// without duplicates.
func sortCaps(caps []connector.Capability) []connector.Capability {
	order := Capabilities()
	rank := func(c connector.Capability) int {
		if i := slices.Index(order, c); i >= 0 {
			return i
		}
		return len(order)
	}
	out := slices.Clone(caps)
	slices.SortStableFunc(out, func(a, b connector.Capability) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return slices.Compact(out)
}
