package chaostest

import (
	"os"
	"testing"
	"time"
)

// chaosConfig is the run's size: the long variant (build tag chaos) or the short one
// (OCTOPUSMQ_CHAOS=short, as .ci/run sets); nil skips the process-level test.
// OCTOPUSMQ_CHAOS_DURATION overrides the nemesis duration; OCTOPUSMQ_CHAOS_FAULTS (a
// comma-separated list of Faults' names) limits the kinds injected.
func chaosConfig(t *testing.T) *Config {
	var cfg *Config
	switch {
	case longByDefault:
		cfg = &Config{Duration: 5 * time.Minute, Hold: 6 * time.Second, MaxOps: 1 << 30}
	case os.Getenv("OCTOPUSMQ_CHAOS") != "":
		cfg = &Config{Duration: 30 * time.Second, Hold: 2 * time.Second, MaxOps: 3000}
	default:
		return nil
	}
	if d := os.Getenv("OCTOPUSMQ_CHAOS_DURATION"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("OCTOPUSMQ_CHAOS_DURATION: %v", err)
		}
		cfg.Duration = v
	}
	if names := os.Getenv("OCTOPUSMQ_CHAOS_FAULTS"); names != "" {
		f, err := SelectFaults(names)
		if err != nil {
			t.Fatalf("OCTOPUSMQ_CHAOS_FAULTS: %v", err)
		}
		cfg.Faults = f
	}
	return cfg
}

// TestChaos runs the workloads against a 3-node cluster under the nemesis and fails on any
// violated guarantee.
func TestChaos(t *testing.T) {
	cfg := chaosConfig(t)
	if cfg == nil || testing.Short() {
		t.Skip("set OCTOPUSMQ_CHAOS=short or build with -tags chaos")
	}
	Run(t, *cfg)
}
