package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serverStats is what the bench reads from the servers' /metrics: process CPU time and
// memory, summed over the scraped servers.
type serverStats struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSBytes   float64 `json:"rss_bytes"`
	HeapBytes  float64 `json:"heap_inuse_bytes"`
}

// metricNames are the gauges/counters read (the Go client's standard process and runtime
// collectors).
var metricNames = map[string]func(*serverStats, float64){
	"process_cpu_seconds_total":     func(s *serverStats, v float64) { s.CPUSeconds += v },
	"process_resident_memory_bytes": func(s *serverStats, v float64) { s.RSSBytes += v },
	"go_memstats_heap_inuse_bytes":  func(s *serverStats, v float64) { s.HeapBytes += v },
}

// metricsURLs are the /metrics URLs to scrape: the -metrics list, or the first -addr.
func metricsURLs(c config) []string {
	list := c.metrics
	if list == "" {
		list = strings.Split(c.addr, ",")[0]
	}
	var urls []string
	for _, u := range strings.Split(list, ",") {
		u = strings.TrimSpace(u)
		if u == "" || u == "none" {
			continue
		}
		if !strings.Contains(u, "://") {
			if c.tlsCA != "" {
				u = "https://" + u
			} else {
				u = "http://" + u
			}
		}
		if !strings.HasSuffix(u, "/metrics") {
			u = strings.TrimSuffix(u, "/") + "/metrics"
		}
		urls = append(urls, u)
	}
	return urls
}

// scraper reads /metrics with the bench's -tls-ca and -token.
type scraper struct {
	hc    *http.Client
	token string
	urls  []string
}

func newScraper(c config) (*scraper, error) {
	hc := http.DefaultClient
	if c.tlsCA != "" {
		pem, err := os.ReadFile(c.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", c.tlsCA)
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	return &scraper{hc: hc, token: c.token, urls: metricsURLs(c)}, nil
}

// scrape reads and sums the stats of every URL.
func (sc *scraper) scrape(ctx context.Context) (serverStats, error) {
	var s serverStats
	for _, u := range sc.urls {
		if err := sc.scrapeOne(ctx, u, &s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (sc *scraper) scrapeOne(ctx context.Context, url string, s *serverStats) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if sc.token != "" {
		req.Header.Set("Authorization", "Bearer "+sc.token)
	}
	resp, err := sc.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	found := 0
	for name, add := range metricNames {
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) == 0 {
			continue
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			add(s, m.GetCounter().GetValue())
		case m.GetGauge() != nil:
			add(s, m.GetGauge().GetValue())
		default:
			add(s, m.GetUntyped().GetValue())
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("%s: no process or Go runtime metrics", url)
	}
	return nil
}
