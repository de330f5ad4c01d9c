// Command mooring serves mooring for the benchmark: a chosen store (memory,
// bolt, redis) in front of a chosen backend (the go-sdk echo server or the
// raw echo backend), assembled as cmd/mooring assembles it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/bench/internal/benchauth"
	"github.com/mooring-dev/mooring/bench/internal/echo"
	"github.com/mooring-dev/mooring/bench/internal/serve"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/compress"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/redisstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	storeKind := flag.String("store", "memory", "memory, bolt or redis")
	backendKind := flag.String("backend", "gosdk", "gosdk (go-sdk mcp.Server with an echo tool) or raw (minimal echo backend)")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379", "redis URL for --store redis")
	dataDir := flag.String("data-dir", "", "directory of the bolt file (default: a temporary directory)")
	mode := flag.String("mode", "sse", "response mode: sse or json")
	maxEvents := flag.Int("max-events", 0, "events kept per session (0: mooring's default)")
	compression := flag.Bool("compression", true, "compress stored payloads (as mooring serve does by default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGTERM/SIGINT")
	idleEvict := flag.Duration("idle-evict", 0, "close the backend of a session idle this long (0: mooring's default)")
	memprofile := flag.String("memprofile", "", "write an allocation (heap) profile to this file at SIGTERM/SIGINT")
	authJWT := flag.Bool("auth-jwt", false, "require JWT bearer tokens as mooring serve --auth jwt does (keys of an issuer of its own; clients get tokens at "+benchauth.TokenPath+")")
	memprofileRate := flag.Int("memprofile-rate", 0, "runtime.MemProfileRate for --memprofile (0: Go's default; 1 samples every allocation, for the idle-session profile, and slows the server)")
	flag.Parse()
	if *memprofileRate > 0 {
		runtime.MemProfileRate = *memprofileRate
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	limits := store.Limits{TTL: time.Hour, MaxEvents: *maxEvents}

	ln := serve.Listen(*addr)
	var st store.Store
	var replica string // names this process in task leases
	// With Redis, cmd/mooring gives every session an owner replica by a
	// lease, and its writes carry the lease's fencing token: so does this.
	var own *session.Ownership
	switch *storeKind {
	case "memory":
		st = memstore.New(&memstore.Options{Limits: limits})
	case "bolt":
		dir := *dataDir
		if dir == "" {
			d, err := os.MkdirTemp("", "mooring-bench-bolt-")
			if err != nil {
				log.Fatal(err)
			}
			defer os.RemoveAll(d)
			dir = d
		}
		ci, _ := time.ParseDuration(os.Getenv("BENCH_BOLT_CHECKPOINT"))
		b, err := boltstore.Open(filepath.Join(dir, "mooring.db"), &boltstore.Options{Limits: limits, NoSync: os.Getenv("BENCH_BOLT_NOSYNC") != "", CheckpointInterval: ci})
		if err != nil {
			log.Fatal(err)
		}
		st = b
	case "redis":
		r, err := redisstore.Open(context.Background(), &redisstore.Options{URL: *redisURL, Limits: limits, Logger: quiet})
		if err != nil {
			log.Fatal(err)
		}
		st = r
		own = &session.Ownership{Lease: r, SelfURL: "http://" + ln.Addr().String() + "/mcp"}
		replica = own.SelfURL
	default:
		log.Fatalf("--store %q: want memory, bolt or redis", *storeKind)
	}
	// Durable tasks as cmd/mooring wires them (2025-11-25, inside
	// sessions), over the store itself; echo supports tasks by policy,
	// as --task-tools echo would make it.
	taskMgr := tasks.NewManager(st.(store.TaskStore), &tasks.Options{ReplicaID: replica, Exclusive: *storeKind != "redis", Logger: quiet})
	runners := &protocol.Runners{}
	taskMgr.SetRunnerFor(runners.For)
	sf, err := protocol.NewSessionful(taskMgr, &protocol.SessionfulOptions{Policy: &protocol.Policy{Tools: map[string]string{"echo": protocol.Optional}}, Runners: runners, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	taskMgr.Start()
	st = compress.Wrap(st, &compress.Options{Enabled: *compression})

	var opener backend.Opener
	switch *backendKind {
	case "gosdk":
		opener = backend.NewInProcess(echo.NewServer())
	case "raw":
		opener = echo.Raw{}
	default:
		log.Fatalf("--backend %q: want gosdk or raw", *backendKind)
	}
	pd, _ := time.ParseDuration(os.Getenv("BENCH_PRIME_DELAY"))
	mgr := session.New(st, opener, &session.Options{TTL: time.Hour, IdleEvict: *idleEvict, Logger: quiet, PrimeDelay: pd, Ownership: own, Interceptor: sf})
	sf.Attach(mgr)

	h := transport.New(mgr, &transport.Options{
		Mode:      transport.ResponseMode(*mode),
		LocalOnly: true,
		Logger:    quiet,
	})
	mux := http.NewServeMux()
	var endpoint http.Handler = h
	if *authJWT {
		protected, tokens, err := benchauth.Protect(h, "http://"+ln.Addr().String()+"/mcp")
		if err != nil {
			log.Fatal(err)
		}
		endpoint = protected
		mux.Handle(benchauth.TokenPath, tokens)
	}
	mux.Handle("/mcp", endpoint)
	// For the idle-session measurement: collect garbage, return free memory
	// to the OS and report the live heap, so that VmRSS shows what the
	// sessions hold rather than the collector's headroom.
	mux.HandleFunc("/debug/gc", func(w http.ResponseWriter, r *http.Request) {
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "%d %d\n", ms.HeapAlloc, runtime.NumGoroutine())
	})
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	serve.Run(ln, mux, fmt.Sprintf("mooring bench server store=%s backend=%s mode=%s", *storeKind, *backendKind, *mode))
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			log.Fatal(err)
		}
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	closed := make(chan struct{})
	go func() { taskMgr.Close(); sf.Close(); mgr.Close(); _ = st.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		fmt.Fprintln(os.Stderr, "mooring bench server: store did not close in 2s; exiting anyway")
	}
}
