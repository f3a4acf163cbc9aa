package main

import (
	"fmt"
	"net/url"
	"strings"
)

// parseCORSOrigins splits --cors-origins: "*" or origins as browsers send them
// (scheme://host[:port], no path), so a typo such as a trailing slash, which would never
// match, is an error naming the flag instead.
func parseCORSOrigins(s string) ([]string, error) {
	var origins []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return nil, fmt.Errorf("--cors-origins: %q is not an origin (scheme://host[:port], e.g. https://ops.example.com, or *)", o)
			}
		}
		origins = append(origins, o)
	}
	return origins, nil
}
