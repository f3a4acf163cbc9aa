package server

import (
	"net/http"

	"github.com/rs/cors"
)

// withCORS answers CORS preflights and adds the CORS response headers for the origins listed
// (--cors-origins; "*" allows any), so a dashboard hosted elsewhere can call the REST API.
// With no origins it returns next unchanged: browsers then refuse cross-origin calls.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		// Any request header (Content-Type for JSON bodies, Authorization for bearer tokens).
		AllowedHeaders: []string{"*"},
		MaxAge:         600,
	}).Handler(next)
}
