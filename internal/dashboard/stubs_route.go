package dashboard

// STUB: replaced by overview.go, route.go, live.go (lead).

import "net/http"

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request)      { d.notFound(w, r) }
func (d *Dashboard) overviewTable(w http.ResponseWriter, r *http.Request) { d.notFound(w, r) }
func (d *Dashboard) routePage(w http.ResponseWriter, r *http.Request)     { d.notFound(w, r) }
func (d *Dashboard) routeLive(w http.ResponseWriter, r *http.Request)     { d.notFound(w, r) }
func (d *Dashboard) runNow(w http.ResponseWriter, r *http.Request)        { d.notFound(w, r) }
func (d *Dashboard) cancelRun(w http.ResponseWriter, r *http.Request)     { d.notFound(w, r) }
func (d *Dashboard) liveEvents(w http.ResponseWriter, r *http.Request)    { d.notFound(w, r) }
