package chaostest

import (
	"os"
	"testing"
	"time"
)

// chaosConfig is the run's size: the long variant (build tag chaos) or the short one
// (OCTOPUSMQ_CHAOS=short, as .ci/run sets); nil skips the process-level test.
// OCTOPUSMQ_CHAOS_DURATION overrides the nemesis duration, OCTOPUSMQ_CHAOS_HOLD how long
// each fault lasts (the long variant's 6 s in a short run); OCTOPUSMQ_CHAOS_FAULTS (a
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
	envDuration(t, "OCTOPUSMQ_CHAOS_DURATION", &cfg.Duration)
	envDuration(t, "OCTOPUSMQ_CHAOS_HOLD", &cfg.Hold)
	if names := os.Getenv("OCTOPUSMQ_CHAOS_FAULTS"); names != "" {
		f, err := SelectFaults(names)
		if err != nil {
			t.Fatalf("OCTOPUSMQ_CHAOS_FAULTS: %v", err)
		}
		cfg.Faults = f
	}
	return cfg
}

// envDuration sets *d from the environment variable name when it is set.
func envDuration(t *testing.T, name string, d *time.Duration) {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		*d = v
	}
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
