package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Row is one server at one client count, summed over the rounds.
type Row struct {
	Server   string  `json:"server"`
	Mode     string  `json:"mode"`
	Store    string  `json:"store"`
	Backend  string  `json:"backend"`
	Label    string  `json:"label,omitempty"`
	Clients  int     `json:"clients"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Errors   int     `json:"errors"`
	RSSMB    float64 `json:"rss_mb"`
	CPUPer1k float64 `json:"cpu_ms_per_1k"`
	// RedisCPU is redis-server's CPU per 1000 requests (redis store only).
	RedisCPU float64 `json:"redis_cpu_ms_per_1k,omitempty"`
	// Ratios of rps to go-sdk (sse) and to mcp-go at the same client count.
	RatioGoSDK float64 `json:"ratio_gosdk_sse"`
	RatioMCPGo float64 `json:"ratio_mcpgo"`
	// RatioNoAuth is rps against the same row without --auth jwt (auth
	// rows only).
	RatioNoAuth float64 `json:"ratio_no_auth,omitempty"`
	Rounds      int     `json:"rounds"`
	Requests    int     `json:"requests"`

	name string
}

// Meta says how the run was made.
type Meta struct {
	Date     string  `json:"date"`
	Go       string  `json:"go"`
	CPUs     int     `json:"cpus"`
	Duration string  `json:"duration_per_measurement"`
	Warmup   string  `json:"warmup"`
	Rounds   int     `json:"rounds"`
	Clients  []int   `json:"clients"`
	Seconds  float64 `json:"run_seconds"`
	Commit   string  `json:"mooring_commit"`
}

type results struct {
	Meta   Meta
	Rows   []Row
	Extras *Extras
}

func (r *Row) Name() string {
	if r.name != "" {
		return r.name
	}
	return variant{Server: r.Server, Mode: r.Mode, Store: r.Store, Backend: r.Backend, Label: r.Label}.Name()
}

func ratios(rows []Row) {
	ref := func(server, mode string, n int) float64 {
		for _, r := range rows {
			if r.Server == server && r.Mode == mode && r.Clients == n {
				return r.RPS
			}
		}
		return 0
	}
	for i := range rows {
		r := &rows[i]
		if g := ref("go-sdk", "sse", r.Clients); g > 0 {
			r.RatioGoSDK = float64(int64(r.RPS/g*100+0.5)) / 100
		}
		if m := ref("mcp-go", "json", r.Clients); m > 0 {
			r.RatioMCPGo = float64(int64(r.RPS/m*100+0.5)) / 100
		}
		if r.Label == "auth jwt" {
			for _, o := range rows {
				if o.Label == "" && o.Server == r.Server && o.Mode == r.Mode && o.Store == r.Store && o.Backend == r.Backend && o.Clients == r.Clients && o.RPS > 0 {
					r.RatioNoAuth = float64(int64(r.RPS/o.RPS*100+0.5)) / 100
				}
			}
		}
	}
}

func (r *results) write(dir string) error {
	if r.Rows != nil {
		b, err := json.MarshalIndent(r.Rows, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
		if err := writeChart(filepath.Join(dir, "latest.png"), r.Rows, r.Meta.Clients); err != nil {
			return err
		}
	}
	ex := struct {
		Meta   Meta    `json:"meta"`
		Extras *Extras `json:"extras,omitempty"`
	}{r.Meta, r.Extras}
	b, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest-extras.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.md"), []byte(r.markdown()), 0o644)
}

func (r *results) markdown() string {
	var b strings.Builder
	m := r.Meta
	fmt.Fprintf(&b, "# mooring benchmark\n\n")
	fmt.Fprintf(&b, "Run %s on mooring %s, %s, %d CPUs, %d rounds of %s per server and client count (after %s of warmup), servers interleaved; run took %.0f s. ",
		m.Date, m.Commit, m.Go, m.CPUs, m.Rounds, m.Duration, m.Warmup, m.Seconds)
	fmt.Fprintf(&b, "The load generator runs on the same 2 cores as the server, and the machine is shared: numbers are noisy.\n\n")
	if len(r.Rows) > 0 {
		fmt.Fprintf(&b, "## Request loop: tools/call echo\n\n")
		fmt.Fprintf(&b, "| server | clients | req/s | × go-sdk sse | × mcp-go | p50 ms | p99 ms | errors | RSS MB | CPU ms / 1k req | redis CPU ms / 1k |\n")
		fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, row := range r.Rows {
			rc := ""
			if row.RedisCPU > 0 {
				rc = fmt.Sprintf("%.0f", row.RedisCPU)
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %.1f | %.0f | %s |\n",
				row.Name(), row.Clients, row.RPS, row.RatioGoSDK, row.RatioMCPGo, row.P50, row.P99, row.Errors, row.RSSMB, row.CPUPer1k, rc)
		}
		b.WriteString("\n")
		for _, row := range r.Rows {
			if row.RatioNoAuth > 0 {
				fmt.Fprintf(&b, "%s at %d clients: %.2fx the req/s of the same row without auth.\n\n", row.Name(), row.Clients, row.RatioNoAuth)
			}
		}
		b.WriteString("![throughput by client count](latest.png)\n\n")
	}
	if x := r.Extras; x != nil {
		x.markdown(&b)
	}
	return b.String()
}
