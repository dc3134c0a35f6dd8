package dashboard

// STUB: the queue helper replaces this file with queue.go, entry.go, search.go.

import "net/http"

func (d *Dashboard) queuePage(w http.ResponseWriter, r *http.Request)    { d.notFound(w, r) }
func (d *Dashboard) queueRetry(w http.ResponseWriter, r *http.Request)   { d.notFound(w, r) }
func (d *Dashboard) queueDiscard(w http.ResponseWriter, r *http.Request) { d.notFound(w, r) }
func (d *Dashboard) queueResend(w http.ResponseWriter, r *http.Request)  { d.notFound(w, r) }
func (d *Dashboard) ledgerPage(w http.ResponseWriter, r *http.Request)   { d.notFound(w, r) }
func (d *Dashboard) entryPage(w http.ResponseWriter, r *http.Request)    { d.notFound(w, r) }
func (d *Dashboard) entryRetry(w http.ResponseWriter, r *http.Request)   { d.notFound(w, r) }
func (d *Dashboard) entryDiscard(w http.ResponseWriter, r *http.Request) { d.notFound(w, r) }
func (d *Dashboard) search(w http.ResponseWriter, r *http.Request)       { d.notFound(w, r) }
