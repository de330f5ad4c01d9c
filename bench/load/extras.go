package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// Extras are the measurements beside the request loop.
type Extras struct {
	IdleMemory []IdleRow    `json:"idle_memory,omitempty"`
	Restore    []RestoreRow `json:"restore,omitempty"`
	Replay     []ReplayRow  `json:"replay,omitempty"`
	Appends    []AppendRow  `json:"appends,omitempty"`
	Tasks      []TaskRow    `json:"tasks,omitempty"`
}

// IdleRow: resident memory per idle session.
type IdleRow struct {
	Server          string  `json:"server"`
	Sessions        int     `json:"sessions"`
	RSSBeforeMB     float64 `json:"rss_before_mb"`
	RSSAfterMB      float64 `json:"rss_after_mb"`
	BytesPerSession int64   `json:"rss_bytes_per_session"`
	// FilePerSession is the part of BytesPerSession in mapped files
	// (RssFile): for bolt, the pages of its data file.
	FilePerSession  int64 `json:"rss_file_bytes_per_session"`
	RedisPerSession int64 `json:"redis_used_memory_bytes_per_session,omitempty"`
	// mooring only: after a forced GC that returns free memory to the OS.
	RSSAfterGCPerSession int64   `json:"rss_after_gc_bytes_per_session,omitempty"`
	HeapPerSession       int64   `json:"live_heap_bytes_per_session,omitempty"`
	GoroutinesPerSession float64 `json:"goroutines_per_session,omitempty"`
	OpenSeconds          float64 `json:"open_seconds"`
	Errors               int     `json:"errors"`
}

// RestoreRow: the first request of a restored session against a warm one.
type RestoreRow struct {
	Server      string  `json:"server"`
	Sessions    int     `json:"sessions"`
	WarmP50     float64 `json:"warm_p50_ms"`
	WarmP99     float64 `json:"warm_p99_ms"`
	RestoredP50 float64 `json:"restored_first_p50_ms"`
	RestoredP99 float64 `json:"restored_first_p99_ms"`
	AfterP50    float64 `json:"after_restore_p50_ms"`
	ExtraP50    float64 `json:"extra_p50_ms"`
	Errors      int     `json:"errors"`
}

// ReplayRow: a GET with Last-Event-ID that replays a whole stream.
type ReplayRow struct {
	Server string  `json:"server"`
	Events int     `json:"events"`
	Reps   int     `json:"reps"`
	P50    float64 `json:"p50_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
	Errors int     `json:"errors"`
}

// AppendRow: store appends per second (Go, in process, concurrent writers).
type AppendRow struct {
	What         string  `json:"what"`
	Writers      int     `json:"writers"`
	PerSecond    float64 `json:"per_second"`
	VsRedisBench float64 `json:"ratio_to_redis_benchmark,omitempty"`
	Errors       int     `json:"errors"`
}

func runExtras(e *env, rs *redisServer, c *config, tmp string) *Extras {
	x := &Extras{}
	x.Appends = runAppends(rs, c, tmp)
	x.Replay = runReplay(e, rs, c)
	x.Restore = runRestore(e, rs, c, tmp)
	x.IdleMemory = runIdle(e, rs, c)
	x.Tasks = runTasks(e, rs, c)
	return x
}

// openSessions opens n sessions (handshake and one echo each) with a few
// workers.
func openSessions(url string, n, workers int) (clients []*mcpClient, errs int) {
	tr := newTransport(workers)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
		elog errLimit
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= n {
				cl := newClient(hc, url)
				err := cl.handshake()
				if err == nil {
					err = cl.echo("idle")
				}
				mu.Lock()
				if err != nil {
					errs++
					elog.add(err)
				} else {
					clients = append(clients, cl)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if errs > 0 {
		log.Printf("  open sessions: %s", elog.String())
	}
	return clients, errs
}

func runIdle(e *env, rs *redisServer, c *config) []IdleRow {
	if c.idleSessions <= 0 {
		return nil
	}
	targets := []variant{
		{Server: "mooring", Mode: "sse", Store: "memory", Backend: "gosdk"},
		{Server: "mooring", Mode: "sse", Store: "memory", Backend: "raw"},
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "gosdk"},
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "raw"},
		{Server: "mooring", Mode: "sse", Store: "redis", Backend: "gosdk"},
		{Server: "mooring", Mode: "sse", Store: "redis", Backend: "raw"},
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "gosdk", Extra: []string{"--idle-evict", "2s"}, Label: "(idle-evict 2s)"},
		{Server: "mooring", Mode: "sse", Store: "redis", Backend: "gosdk", Extra: []string{"--idle-evict", "2s"}, Label: "(idle-evict 2s)"},
		{Server: "go-sdk", Mode: "sse"},
		{Server: "mcp-go", Mode: "json"},
		{Server: "ts-sdk", Mode: "store"},
	}
	var rows []IdleRow
	for _, v := range targets {
		if c.only != "" && !matchAny(v.Name(), c.only) {
			continue
		}
		rs.flush()
		var extra []string
		if c.idleProfile && v.Server == "mooring" {
			dir := filepath.Join(c.out, "profiles")
			_ = os.MkdirAll(dir, 0o755)
			// Every allocation sampled: the profile must show where each
			// byte of an idle session goes.
			extra = []string{"--memprofile", filepath.Join(dir, "idle-"+v.Key()+".mem.prof"), "--memprofile-rate", "1"}
		}
		p, err := e.start(v, "", extra...)
		if err != nil {
			log.Printf("idle: %v", err)
			continue
		}
		openSessions(p.url(), 50, 8) // warm the server up
		evict := len(v.Extra) > 0
		if evict {
			time.Sleep(5 * time.Second) // the warmup sessions are evicted too
		}
		time.Sleep(500 * time.Millisecond)
		rss0, file0 := residentBytes(p.pid())
		red0 := rs.usedMemory()
		heap0, gor0, gcOK := debugGC(p)
		rssGC0 := rssBytes(p.pid())
		t0 := time.Now()
		_, errs := openSessions(p.url(), c.idleSessions, 8)
		open := time.Since(t0)
		time.Sleep(time.Second)
		if evict {
			time.Sleep(5 * time.Second) // idle-evict 2s; the janitor runs every second
		}
		rss1, file1 := residentBytes(p.pid())
		red1 := rs.usedMemory()
		heap1, gor1, _ := debugGC(p)
		rssGC1 := rssBytes(p.pid())
		p.stop()
		n := int64(c.idleSessions - errs)
		if n <= 0 {
			n = 1
		}
		row := IdleRow{Server: v.Name(), Sessions: c.idleSessions, RSSBeforeMB: round1(float64(rss0) / (1 << 20)),
			RSSAfterMB: round1(float64(rss1) / (1 << 20)), BytesPerSession: (rss1 - rss0) / n,
			FilePerSession: (file1 - file0) / n,
			OpenSeconds:    round3(open.Seconds()), Errors: errs}
		if v.Store == "redis" {
			row.RedisPerSession = (red1 - red0) / n
		}
		if gcOK {
			row.RSSAfterGCPerSession = (rssGC1 - rssGC0) / n
			row.HeapPerSession = (heap1 - heap0) / n
			row.GoroutinesPerSession = round3(float64(gor1-gor0) / float64(n))
		}
		log.Printf("idle %-26s %d sessions: %+d B/session resident (%.1f -> %.1f MB; %+d B/session in mapped files), after GC %+d B/session, live heap %+d B/session, %.2f goroutines/session, redis %d B/session, errors %d",
			v.Name(), c.idleSessions, row.BytesPerSession, row.RSSBeforeMB, row.RSSAfterMB, row.FilePerSession, row.RSSAfterGCPerSession, row.HeapPerSession, row.GoroutinesPerSession, row.RedisPerSession, errs)
		rows = append(rows, row)
	}
	return rows
}

func runRestore(e *env, rs *redisServer, c *config, tmp string) []RestoreRow {
	if c.restoreCount <= 0 {
		return nil
	}
	targets := []variant{
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "gosdk"},
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "raw"},
		{Server: "mooring", Mode: "sse", Store: "redis", Backend: "gosdk"},
	}
	var rows []RestoreRow
	for _, v := range targets {
		rs.flush()
		dir, _ := os.MkdirTemp(tmp, "restore-")
		addr := freeAddr()
		p, err := e.start(v, addr, "--data-dir", dir)
		if err != nil {
			log.Printf("restore: %v", err)
			continue
		}
		tr := newTransport(1)
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		var (
			clients  []*mcpClient
			warm     []time.Duration
			restored []time.Duration
			after    []time.Duration
			errs     int
			elog     errLimit
		)
		timed := func(cl *mcpClient, out *[]time.Duration) {
			t0 := time.Now()
			err := cl.echo("restore me")
			d := time.Since(t0)
			if err != nil {
				errs++
				elog.add(err)
				return
			}
			*out = append(*out, d)
		}
		for i := 0; i < c.restoreCount; i++ {
			cl := newClient(hc, p.url())
			if err := cl.handshake(); err != nil {
				errs++
				elog.add(err)
				continue
			}
			_ = cl.echo("first")
			clients = append(clients, cl)
		}
		for _, cl := range clients {
			timed(cl, &warm)
		}
		p.kill() // kill -9
		tr.CloseIdleConnections()
		p, err = e.start(v, addr, "--data-dir", dir)
		if err != nil {
			log.Printf("restore: restart: %v", err)
			continue
		}
		// One request outside any session opens the connection.
		if r, err := hc.Post(p.url(), "application/json", strings.NewReader(`{}`)); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		for _, cl := range clients {
			timed(cl, &restored)
			timed(cl, &after)
		}
		p.stop()
		tr.CloseIdleConnections()
		for _, s := range [][]time.Duration{warm, restored, after} {
			slices.Sort(s)
		}
		row := RestoreRow{Server: v.Name(), Sessions: len(clients),
			WarmP50: round3(ms(pct(warm, 50))), WarmP99: round3(ms(pct(warm, 99))),
			RestoredP50: round3(ms(pct(restored, 50))), RestoredP99: round3(ms(pct(restored, 99))),
			AfterP50: round3(ms(pct(after, 50))), Errors: errs}
		row.ExtraP50 = round3(row.RestoredP50 - row.WarmP50)
		if errs > 0 {
			log.Printf("  restore errors: %s", elog.String())
		}
		log.Printf("restore %-26s %d sessions: warm p50 %.2f ms, restored first p50 %.2f ms p99 %.2f ms (+%.2f ms), errors %d",
			v.Name(), len(clients), row.WarmP50, row.RestoredP50, row.RestoredP99, row.ExtraP50, errs)
		rows = append(rows, row)
	}
	return rows
}

func runReplay(e *env, rs *redisServer, c *config) []ReplayRow {
	if c.replayEvents <= 0 {
		return nil
	}
	var rows []ReplayRow
	for _, st := range []string{"memory", "bolt", "redis"} {
		rs.flush()
		v := variant{Server: "mooring", Mode: "sse", Store: st, Backend: "gosdk"}
		p, err := e.start(v, "", "--max-events", strconv.Itoa(c.replayEvents*2+16))
		if err != nil {
			log.Printf("replay: %v", err)
			continue
		}
		tr := newTransport(1)
		hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
		row := ReplayRow{Server: v.Name(), Events: c.replayEvents}
		var times []time.Duration
		var elog errLimit
		func() {
			cl := newClient(hc, p.url())
			if err := cl.handshake(); err != nil {
				row.Errors++
				elog.add(err)
				return
			}
			cl.keepIDs = true
			params := fmt.Sprintf(`{"name":"burst","arguments":{"count":%d},"_meta":{"progressToken":"replay"}}`, c.replayEvents-1)
			if _, _, err := cl.call("tools/call", params); err != nil {
				row.Errors++
				elog.add(err)
				return
			}
			ids := slices.Clone(cl.lastIDs)
			if len(ids) != c.replayEvents+1 {
				row.Errors++
				elog.add(fmt.Errorf("the burst stream had %d event ids, want %d", len(ids), c.replayEvents+1))
				return
			}
			for i := 0; i < c.replayReps; i++ {
				t0 := time.Now()
				n, err := replay(hc, p.url(), cl, ids[0])
				d := time.Since(t0)
				if err == nil && n != c.replayEvents {
					err = fmt.Errorf("replayed %d events, want %d", n, c.replayEvents)
				}
				if err != nil {
					row.Errors++
					elog.add(err)
					continue
				}
				times = append(times, d)
			}
		}()
		p.stop()
		tr.CloseIdleConnections()
		slices.Sort(times)
		row.Reps = len(times)
		if len(times) > 0 {
			row.P50, row.Min, row.Max = round3(ms(pct(times, 50))), round3(ms(times[0])), round3(ms(times[len(times)-1]))
		}
		if row.Errors > 0 {
			log.Printf("  replay errors: %s", elog.String())
		}
		log.Printf("replay %-26s %d events: p50 %.2f ms (min %.2f, max %.2f) over %d reps, errors %d",
			v.Name(), c.replayEvents, row.P50, row.Min, row.Max, row.Reps, row.Errors)
		rows = append(rows, row)
	}
	return rows
}

// replay GETs the stream after lastID and counts the events with data.
func replay(hc *http.Client, url string, cl *mcpClient, lastID string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", cl.sid)
	req.Header.Set("Mcp-Protocol-Version", cl.version)
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, fmt.Errorf("replay: status %d: %s", resp.StatusCode, b)
	}
	n := 0
	err = readSSE(resp.Body, func(id string, data []byte) error {
		if len(data) > 0 {
			n++
		}
		return nil
	})
	return n, err
}

// payload is a typical logged message: an echo tool's response.
var payload = []byte(`{"jsonrpc":"2.0","id":12345,"result":{"content":[{"type":"text","text":"hello from client 12 #3456, a typical short tool result of the benchmark"}]}}`)

func runAppends(rs *redisServer, c *config, tmp string) []AppendRow {
	if c.appendDur <= 0 {
		return nil
	}
	const writers = 64
	ctx := context.Background()
	var rows []AppendRow
	rb := redisBenchmark(rs)
	rows = append(rows, AppendRow{What: "redis-benchmark -P 16 XADD", Writers: 50, PerSecond: rb, VsRedisBench: 1})
	log.Printf("appends: redis-benchmark -P 16 -n 200000 XADD: %.0f/s", rb)
	open := map[string]func() (store.Store, error){
		"memory": func() (store.Store, error) { return memstore.New(nil), nil },
		"bolt": func() (store.Store, error) {
			return boltstore.Open(filepath.Join(tmp, "appends.db"), nil)
		},
		"redis": func() (store.Store, error) {
			return redisstore.Open(ctx, &redisstore.Options{URL: rs.url()})
		},
	}
	for _, kind := range []string{"memory", "bolt", "redis"} {
		rs.flush()
		st, err := open[kind]()
		if err != nil {
			log.Printf("appends %s: %v", kind, err)
			continue
		}
		var (
			n, errs atomic.Int64
			stop    atomic.Bool
			wg      sync.WaitGroup
			once    sync.Once
		)
		t0 := time.Now()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				sid := fmt.Sprintf("bench-append-%02d", w)
				for !stop.Load() {
					if _, err := st.Append(ctx, sid, "s1", payload); err != nil {
						errs.Add(1)
						once.Do(func() { log.Printf("  append %s: %v", kind, err) })
						time.Sleep(time.Millisecond)
						continue
					}
					n.Add(1)
				}
			}(w)
		}
		time.Sleep(c.appendDur)
		stop.Store(true)
		wg.Wait()
		el := time.Since(t0)
		closeWithin(st, 2*time.Second)
		row := AppendRow{What: "mooring " + kind + " store Append", Writers: writers,
			PerSecond: round1(float64(n.Load()) / el.Seconds()), Errors: int(errs.Load())}
		if rb > 0 {
			row.VsRedisBench = round3(row.PerSecond / rb)
		}
		log.Printf("appends: %s, %d writers: %.0f/s (%.2fx redis-benchmark), errors %d", row.What, writers, row.PerSecond, row.VsRedisBench, row.Errors)
		rows = append(rows, row)
	}
	return rows
}

// redisBenchmark runs redis-benchmark's pipelined XADD against the run's
// redis and returns its requests per second.
func redisBenchmark(rs *redisServer) float64 {
	out, err := exec.Command("redis-benchmark", "-p", rs.port, "-P", "16", "-n", "200000", "-q",
		"XADD", "bench:xadd", "*", "data", string(payload)).CombinedOutput()
	rs.flush()
	if err != nil {
		log.Printf("redis-benchmark: %v: %s", err, out)
		return 0
	}
	m := regexp.MustCompile(`([0-9.]+) requests per second`).FindAllStringSubmatch(string(out), -1)
	if m == nil {
		log.Printf("redis-benchmark: no rate in %q", out)
		return 0
	}
	f, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return f
}

// runProfiles runs mooring under load with CPU and allocation profiles.
func runProfiles(e *env, c *config) {
	dir := filepath.Join(c.out, "profiles")
	_ = os.MkdirAll(dir, 0o755)
	for _, v := range []variant{
		{Server: "mooring", Mode: "sse", Store: "memory", Backend: "gosdk"},
		{Server: "mooring", Mode: "sse", Store: "memory", Backend: "raw"},
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "gosdk"},
		{Server: "mooring", Mode: "sse", Store: "bolt", Backend: "raw"},
		{Server: "mooring", Mode: "sse", Store: "redis", Backend: "raw"},
	} {
		if c.only != "" && !matchAny(v.Name(), c.only) {
			continue
		}
		base := filepath.Join(dir, v.Key())
		p, err := e.start(v, "", "--cpuprofile", base+".cpu.prof", "--memprofile", base+".mem.prof")
		if err != nil {
			log.Fatal(err)
		}
		s := measure(p, 0, 16, time.Second, c.profileDur)
		p.stop()
		log.Printf("profile %s: %.0f req/s at 16 clients; %s.{cpu,mem}.prof", v.Name(), float64(s.requests)/s.elapsed.Seconds(), base)
	}
}

func (x *Extras) markdown(b *strings.Builder) {
	tasksMarkdown(b, x.Tasks)
	if len(x.IdleMemory) > 0 {
		fmt.Fprintf(b, "## Memory per idle session\n\nSessions opened (handshake and one echo call each) and left idle; the delta of the server's VmRSS (and, for Redis, of `INFO memory` used_memory) divided by the sessions. Of the resident bytes, the `in mapped files` column is the part in file-backed pages (`RssFile`): for bolt, the pages of its data file that the store has read or written through its mmap, which the kernel may drop and read again.\n\n")
		fmt.Fprintf(b, "For mooring, the bench server also answers `/debug/gc` (a forced GC that returns free memory to the OS, then the live heap and goroutine count): the last columns are the per-session deltas measured after it. The `idle-evict 2s` rows wait until mooring has closed the idle sessions' backends (the store keeps them; the next request restores them).\n\n")
		fmt.Fprintf(b, "| server | sessions | RSS before MB | RSS after MB | resident B/session | of it in mapped files B/session | redis B/session | RSS after GC B/session | live heap B/session | goroutines/session | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		dash := func(v int64) string {
			if v == 0 {
				return "–"
			}
			return strconv.FormatInt(v, 10)
		}
		for _, r := range x.IdleMemory {
			g := "–"
			if r.HeapPerSession != 0 || r.GoroutinesPerSession != 0 {
				g = strconv.FormatFloat(r.GoroutinesPerSession, 'f', 2, 64)
			}
			fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %d | %s | %s | %s | %s | %s | %d |\n", r.Server, r.Sessions, r.RSSBeforeMB, r.RSSAfterMB, r.BytesPerSession,
				dash(r.FilePerSession), dash(r.RedisPerSession), dash(r.RSSAfterGCPerSession), dash(r.HeapPerSession), g, r.Errors)
		}
		b.WriteString("\n")
	}
	if len(x.Restore) > 0 {
		fmt.Fprintf(b, "## First request of a restored session\n\nSessions opened, one warm tools/call timed each; the server is killed with SIGKILL and started again on the same store; the first tools/call of each session (which restores it) is timed, then a second one. One client, requests one at a time.\n\n")
		fmt.Fprintf(b, "| server | sessions | warm p50 ms | warm p99 ms | restored first p50 ms | restored first p99 ms | next p50 ms | extra p50 ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range x.Restore {
			fmt.Fprintf(b, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", r.Server, r.Sessions, r.WarmP50, r.WarmP99, r.RestoredP50, r.RestoredP99, r.AfterP50, r.ExtraP50, r.Errors)
		}
		b.WriteString("\n")
	}
	if len(x.Replay) > 0 {
		fmt.Fprintf(b, "## Replay with Last-Event-ID\n\nA tools/call whose stream holds the priming event, progress notifications and the result; then GET with Last-Event-ID set to the priming event's id replays the whole stream. Time from the GET to the end of the body.\n\n")
		fmt.Fprintf(b, "| server | events | reps | p50 ms | min ms | max ms | errors |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range x.Replay {
			fmt.Fprintf(b, "| %s | %d | %d | %.2f | %.2f | %.2f | %d |\n", r.Server, r.Events, r.Reps, r.P50, r.Min, r.Max, r.Errors)
		}
		b.WriteString("\n")
	}
	if len(x.Appends) > 0 {
		fmt.Fprintf(b, "## Store appends per second\n\nmooring's store `Append` (one event of %d bytes, concurrent writers each on its own session, in the load generator's process) against `redis-benchmark -P 16 -n 200000 -q XADD` on the same redis-server.\n\n", len(payload))
		fmt.Fprintf(b, "| what | writers | appends/s | × redis-benchmark | errors |\n|---|---:|---:|---:|---:|\n")
		for _, r := range x.Appends {
			fmt.Fprintf(b, "| %s | %d | %.0f | %.3f | %d |\n", r.What, r.Writers, r.PerSecond, r.VsRedisBench, r.Errors)
		}
		b.WriteString("\n")
	}
}

// closeWithin closes a store, giving up after d (a store whose Close hangs
// must not hang the benchmark).
func closeWithin(st store.Store, d time.Duration) {
	done := make(chan struct{})
	go func() { _ = st.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		log.Printf("  %s store: Close did not return in %v; going on", st.Kind(), d)
	}
}

// debugGC asks a mooring bench server to collect garbage and return free
// memory to the OS; it returns the live heap and the goroutine count.
func debugGC(p *proc) (heap, goroutines int64, ok bool) {
	resp, err := http.Get("http://" + p.addr + "/debug/gc")
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, false
	}
	if _, err := fmt.Fscan(resp.Body, &heap, &goroutines); err != nil {
		return 0, 0, false
	}
	return heap, goroutines, true
}
