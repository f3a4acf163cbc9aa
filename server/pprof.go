package server

import (
	"net/http"
	"net/http/pprof"
)

// registerPprof serves net/http/pprof under /debug/pprof/ on the client port when
// Config.Pprof is set, for admins only when auth is on (the same rule as backups; each
// request is audited). Off by default: profiles reveal internals and cost CPU.
func (s *Server) registerPprof(mux *http.ServeMux) {
	if !s.cfg.Pprof {
		return
	}
	admin := func(h http.HandlerFunc) http.Handler { return s.auth.RequireAdmin("Pprof", h) }
	mux.Handle("GET /debug/pprof/", admin(pprof.Index))
	mux.Handle("GET /debug/pprof/cmdline", admin(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", admin(pprof.Profile))
	mux.Handle("GET /debug/pprof/symbol", admin(pprof.Symbol))
	mux.Handle("POST /debug/pprof/symbol", admin(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", admin(pprof.Trace))
}
