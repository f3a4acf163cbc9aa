package service

import (
	"strings"
	"testing"
)

func TestLimitsDefaultsValidate(t *testing.T) {
	if err := (Limits{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	// A larger value limit alone raises the derived message limits with it.
	l := Limits{MaxValueBytes: 32 << 20}.WithDefaults()
	if err := l.Validate(); err != nil {
		t.Fatalf("a 32 MiB value limit with derived message limits: %v", err)
	}
	if l.MaxRequestBytes < 32<<20 || l.MaxResponseBytes < 32<<20 || l.MaxHTTPBodyBytes < l.MaxRequestBytes/3*4 {
		t.Fatalf("derived limits too small for a 32 MiB value: %+v", l)
	}
}

func TestLimitsValidateRefusesContradictions(t *testing.T) {
	for _, c := range []struct {
		l    Limits
		want string
	}{
		{Limits{MaxValueBytes: 8 << 20, MaxRequestBytes: 5 << 20}, "--max-request-bytes is 5242880; one item at the value, key and unique key limits needs"},
		{Limits{MaxValueBytes: 8 << 20, MaxResponseBytes: 5 << 20}, "--max-response-bytes is 5242880"},
		{Limits{MaxKeyBytes: 2048}, "--max-key-bytes is 2048; keys are at most 1024 bytes"},
		{Limits{MaxNameBytes: 201}, "--max-name-bytes is 201; names are at most 200 bytes"},
		{Limits{MaxBatch: -1}, "--max-batch is -1"},
		{Limits{MaxValueBytes: 1 << 30}, "--max-value-bytes is 1073741824; it must be 1–268435456"},
	} {
		err := c.l.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c.l, err, c.want)
		}
	}
}
