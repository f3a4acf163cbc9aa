package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/metricstest"
)

// alertRules is a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// grafanaDashboard is the part of a Grafana dashboard the test reads.
type grafanaDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

// loadMonitoring reads deploy/monitoring and returns every PromQL expression in it by
// where it is used.
func loadMonitoring(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "deploy", "monitoring")
	exprs := map[string]string{}

	raw, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			where := "alerts.yaml " + r.Alert
			switch {
			case r.Alert == "" || r.Expr == "":
				t.Errorf("%s: a rule needs alert and expr", where)
			case alerts[r.Alert]:
				t.Errorf("%s: alert named twice", where)
			case r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical":
				t.Errorf("%s: severity %q, want warning or critical", where, r.Labels["severity"])
			case r.Annotations["summary"] == "":
				t.Errorf("%s: no summary annotation", where)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			alerts[r.Alert] = true
			exprs[where] = r.Expr
		}
	}
	// The alerts the operators' guide promises.
	for _, want := range []string{"OctopusMQLeaderless", "OctopusMQFollowerLag", "OctopusMQFollowerUnreachable", "OctopusMQQueueAge", "OctopusMQDeadLetterGrowth"} {
		if !alerts[want] {
			t.Errorf("alerts.yaml lacks %s", want)
		}
	}

	raw, err = os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash grafanaDashboard
	jd := json.NewDecoder(strings.NewReader(string(raw)))
	if err := jd.Decode(&dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("grafana-dashboard.json: uid %q title %q, want both", dash.UID, dash.Title)
	}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q: a target without expr or refId", p.Title)
			}
			exprs["dashboard "+p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok && strings.Contains(q, "(") {
			exprs["dashboard variable "+v.Name] = q
		}
	}
	return exprs
}

// metricName matches the metric names of a PromQL expression: ours and the Go client's
// process and runtime metrics.
var metricName = regexp.MustCompile(`\b(?:octopusmq|process|go)_[a-zA-Z0-9_]+\b`)

// The Grafana dashboard and the alert rules use only metrics a live cluster exports: a
// 3-node cluster (processes) gets real traffic through the Go client, then every node's
// /metrics is scraped and every name used in deploy/monitoring must be among them (a
// histogram's _bucket, _sum and _count by its family).
func TestMonitoringMetricNamesExist(t *testing.T) {
	exprs := loadMonitoring(t)
	if t.Failed() {
		t.FailNow()
	}
	c := clustertest.New(t, 3)
	defer metricstest.Traffic(t, c.Addrs())()
	leader := c.WaitLeader(20 * time.Second)

	exported := map[string]*dto.MetricFamily{}
	for _, n := range c.Running() {
		for name, f := range metricstest.Scrape(t, n.URL(), "") {
			exported[name] = f
		}
	}
	// The leader reports its followers' last contact.
	lf := metricstest.Scrape(t, leader.URL(), "")
	if f := lf["octopusmq_raft_follower_last_contact_seconds"]; f == nil || len(f.GetMetric()) != 2 {
		t.Errorf("leader's octopusmq_raft_follower_last_contact_seconds: %v, want a series for each of 2 followers", f)
	}

	has := func(name string) bool {
		if exported[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if f := exported[base]; f != nil && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
					return true
				}
			}
		}
		return false
	}
	used := map[string]bool{}
	wheres := make([]string, 0, len(exprs))
	for w := range exprs {
		wheres = append(wheres, w)
	}
	slices.Sort(wheres)
	for _, where := range wheres {
		names := metricName.FindAllString(exprs[where], -1)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, exprs[where])
		}
		for _, name := range names {
			used[name] = true
			if !has(name) {
				t.Errorf("%s uses %s, which the cluster does not export", where, name)
			}
		}
	}
	t.Logf("%d expressions use %d metric names, all exported", len(exprs), len(used))
}
