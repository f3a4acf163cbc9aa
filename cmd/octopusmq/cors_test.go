package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCORSOrigins(t *testing.T) {
	got, err := parseCORSOrigins(" https://ops.example.com, http://localhost:8080 ,,*")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://ops.example.com", "http://localhost:8080", "*"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, err := parseCORSOrigins(""); err != nil || got != nil {
		t.Errorf("empty: %q, %v", got, err)
	}
	for _, bad := range []string{"https://ops.example.com/", "ops.example.com", "ftp://x", "https://x/path", "https://"} {
		if _, err := parseCORSOrigins(bad); err == nil || !strings.Contains(err.Error(), "--cors-origins") {
			t.Errorf("%q: err %v, want one naming --cors-origins", bad, err)
		}
	}
}
