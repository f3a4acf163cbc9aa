package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// serverReport is the servers' resource use over a run, in total and per item.
type serverReport struct {
	Before          serverStats `json:"before"`
	After           serverStats `json:"after"`
	CPUSeconds      float64     `json:"cpu_seconds"`
	CPUMicrosPerItm float64     `json:"cpu_us_per_item"`
	RSSPerItem      float64     `json:"rss_bytes_per_item"`
	HeapPerItem     float64     `json:"heap_inuse_bytes_per_item"`
}

func newServerReport(before, after serverStats, items int64) *serverReport {
	r := &serverReport{Before: before, After: after, CPUSeconds: after.CPUSeconds - before.CPUSeconds}
	if items > 0 {
		n := float64(items)
		r.CPUMicrosPerItm = r.CPUSeconds * 1e6 / n
		r.RSSPerItem = (after.RSSBytes - before.RSSBytes) / n
		r.HeapPerItem = (after.HeapBytes - before.HeapBytes) / n
	}
	return r
}

// text renders the server line(s); memory per item only when the run leaves items behind.
func (r *serverReport) text(memory bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: %.2fs CPU, %.1fµs CPU per item; RSS %s -> %s, heap in use %s -> %s\n",
		r.CPUSeconds, r.CPUMicrosPerItm, mb(r.Before.RSSBytes), mb(r.After.RSSBytes), mb(r.Before.HeapBytes), mb(r.After.HeapBytes))
	if memory {
		fmt.Fprintf(&b, "server memory per item: RSS %+.0f B, heap in use %+.0f B\n", r.RSSPerItem, r.HeapPerItem)
	}
	return b.String()
}

func mb(b float64) string { return fmt.Sprintf("%.1fMB", b/(1<<20)) }

type jsonResult struct {
	Name      string  `json:"name"`
	Items     int64   `json:"items"`
	ElapsedS  float64 `json:"elapsed_s"`
	ItemsPerS float64 `json:"items_per_s"`
	Calls     int     `json:"calls"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	P999us    float64 `json:"p999_us"`
	MaxUs     float64 `json:"max_us"`
	// -sweep: the step's producers (streams) and the servers' costs over that step.
	Streams int           `json:"streams,omitempty"`
	Server  *serverReport `json:"server,omitempty"`
}

type jsonReport struct {
	Workload  string        `json:"workload"`
	Title     string        `json:"title"`
	Producers int           `json:"producers"`
	Consumers int           `json:"consumers"`
	Inflight  int           `json:"inflight"`
	Batch     int           `json:"batch"`
	Size      int           `json:"size"`
	KVOp      string        `json:"kvop,omitempty"`
	Sweep     []int         `json:"sweep,omitempty"`
	Rate      int           `json:"rate,omitempty"`
	Prefill   int64         `json:"prefill,omitempty"`
	Snapshots int           `json:"snapshots,omitempty"`
	Results   []jsonResult  `json:"results"`
	Server    *serverReport `json:"server,omitempty"`
	// -profile: the members' saved profiles and their summaries.
	Profiles []profileSummary `json:"profiles,omitempty"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// writeJSON writes the report as one JSON object.
func writeJSON(w io.Writer, c config, o outcome, srv *serverReport, profiles []profileSummary) error {
	r := jsonReport{Workload: c.workload, Title: o.title, Producers: c.producers, Inflight: c.inflight,
		Batch: c.batch, Size: c.size, Server: srv, Results: []jsonResult{}, Profiles: profiles}
	if c.needsConsumers() {
		r.Consumers = c.consumers
	}
	if c.workload == "kv" {
		r.KVOp = c.kvop
	}
	r.Sweep = c.sweep
	if c.workload == "snapshot" {
		r.Rate, r.Prefill, r.Snapshots = c.rate, c.prefill, c.snapshots
	}
	for _, x := range o.results {
		r.Results = append(r.Results, jsonResult{Name: x.name, Items: x.items, ElapsedS: x.elapsed.Seconds(),
			ItemsPerS: x.rate(), Calls: x.lat.count(), P50us: us(x.lat.percentile(50)), P99us: us(x.lat.percentile(99)),
			P999us: us(x.lat.percentile(99.9)), MaxUs: us(x.lat.max()), Streams: x.streams, Server: x.server})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
