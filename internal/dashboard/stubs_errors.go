package dashboard

// STUB: the errors helper replaces this file with errors.go, feeds.go.

import "net/http"

func (d *Dashboard) errorsPage(w http.ResponseWriter, r *http.Request)    { d.notFound(w, r) }
func (d *Dashboard) errorsReplay(w http.ResponseWriter, r *http.Request)  { d.notFound(w, r) }
func (d *Dashboard) errorsDiscard(w http.ResponseWriter, r *http.Request) { d.notFound(w, r) }
func (d *Dashboard) feedsPage(w http.ResponseWriter, r *http.Request)     { d.notFound(w, r) }
