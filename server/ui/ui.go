// Package ui serves the operators' dashboard (/ui) and the OpenAPI docs (/docs) from files
// embedded in the binary: plain HTML, CSS and JavaScript modules that call only the public
// REST API with relative URLs, so every node serves a dashboard for the cluster it is in.
// The docs are swagger-ui-dist (pinned in the Makefile, copied by `make ui-vendor`) pointed
// at /openapi.json.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed dashboard docs
var files embed.FS

// Register adds GET /ui, /ui/..., /docs and /docs/... to mux.
func Register(mux *http.ServeMux) {
	mount(mux, "/ui", "dashboard")
	mount(mux, "/docs", "docs")
}

// mount serves the embedded folder dir under prefix (prefix itself redirects to prefix/,
// so the pages' relative URLs resolve inside it).
func mount(mux *http.ServeMux, prefix, dir string) {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is embedded above
	}
	files := http.StripPrefix(prefix+"/", http.FileServerFS(sub))
	mux.Handle("GET "+prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The pages change with the binary; browsers revalidate instead of keeping a stale copy.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET "+prefix, http.RedirectHandler(prefix+"/", http.StatusMovedPermanently))
}
