package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/redisstore"
)

func TestOpen_Reopen_SameServerSeesData(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv.URL(), store.Limits{})
	if err := a.PutSession(ctx, store.Record{ID: "s", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	id, err := a.Append(ctx, "s", "get", []byte("e"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := open(t, srv.URL(), store.Limits{})
	if _, err := b.GetSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if evs, err := b.After(ctx, "s", store.EventID{Stream: "get"}); err != nil || len(evs) != 1 || evs[0].ID != id {
		t.Fatalf("After on the new store = %v, %v", evs, err)
	}
	if next, err := b.Append(ctx, "s", "get", nil); err != nil || next.Seq != id.Seq+1 {
		t.Fatalf("Append on the new store = %v, %v; want seq %d", next, err, id.Seq+1)
	}
}

func TestOpen_RedisRestart_AppendOnlyKeepsSessions(t *testing.T) {
	srv := redistest.Start(t, redistest.AppendOnly())
	s := open(t, srv.URL(), store.Limits{})
	if err := s.PutSession(ctx, store.Record{ID: "s", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s", "get", []byte("e")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	// rueidis reconnects by itself, and the scripts come back through the
	// NOSCRIPT fallback. A write that was sent on a connection the old
	// server had closed fails (EOF) rather than being retried, because
	// rueidis cannot know whether it ran: the caller sees the outage.
	var id store.EventID
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if id, err = s.Append(ctx, "s", "get", []byte("f")); err == nil {
			break
		}
	}
	if err != nil || id.Seq != 2 {
		t.Fatalf("Append after restart = %v, %v; want seq 2", id, err)
	}
	if _, err := s.GetSession(ctx, "s"); err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if err := s.TouchSession(ctx, "s"); err != nil {
		t.Fatalf("Touch after restart (execMulti NOSCRIPT path): %v", err)
	}
}

func TestOpen_Password(t *testing.T) {
	srv := redistest.Start(t, redistest.Password("pa:ss@word"))
	s := open(t, "redis://:pa%3Ass%40word@"+srv.Addr(), store.Limits{})
	if err := s.PutSession(ctx, store.Record{ID: "s", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	_, err := redisstore.Open(ctx, &redisstore.Options{URL: "redis://:wrong@" + srv.Addr()})
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestOpen_ACLUser(t *testing.T) {
	// A user limited to the store's keys and the commands it needs; the
	// default user is off.
	srv := redistest.Start(t, redistest.Args(
		"--user", "default", "off",
		"--user", "mooring", "on", ">s3cret", "~mooring:*", "resetchannels",
		"+@read", "+@write", "+@scripting", "+@connection", "-@dangerous", "+info", "+time",
	))
	s := open(t, "redis://mooring:s3cret@"+srv.Addr(), store.Limits{})
	if err := s.PutSession(ctx, store.Record{ID: "s", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s", "get", []byte("e")); err != nil {
		t.Fatal(err)
	}
	if ids, _, err := s.ListSessions(ctx, "", 0); err != nil || len(ids) != 1 {
		t.Fatalf("ListSessions = %v, %v", ids, err)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := redisstore.Open(ctx, &redisstore.Options{URL: "redis://" + srv.Addr()}); err == nil {
		t.Fatal("Open without credentials succeeded although the default user is off")
	}
}

func TestOpen_NothingListening_FailsFast(t *testing.T) {
	// A port that was free a moment ago: connection refused.
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Stop()
	start := time.Now()
	_, err := redisstore.Open(ctx, &redisstore.Options{URL: "redis://" + addr, DialTimeout: time.Second})
	if err == nil {
		t.Fatal("Open succeeded with nothing listening")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Open took %v to fail", took)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "redisstore: connect") {
		t.Errorf("error does not say what failed: %v", err)
	}

	// A black hole (TEST-NET-1, unroutable): the dial timeout bounds Open.
	start = time.Now()
	_, err = redisstore.Open(ctx, &redisstore.Options{URL: "redis://192.0.2.1:6379", DialTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Open succeeded against an unroutable address")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Open took %v to fail with a 300ms dial timeout", took)
	}

	// ctx bounds Open too.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = redisstore.Open(cctx, &redisstore.Options{URL: "redis://192.0.2.1:6379", DialTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("Open succeeded against an unroutable address")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Open took %v to fail with a 100ms context", took)
	}
}

func TestOpen_BadOptions(t *testing.T) {
	for _, o := range []redisstore.Options{
		{URL: "http://127.0.0.1:6379"},
		{URL: "127.0.0.1:6379"},
		{URL: "redis://a:1,,b:2"},
		{URL: "redis://127.0.0.1:1", KeyPrefix: "x{y}:"},
	} {
		if s, err := redisstore.Open(ctx, &o); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestOpen_Sentinel(t *testing.T) {
	master := redistest.Start(t, redistest.Password("pw"))
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	s := open(t, "redis://:pw@"+sentinel.Addr()+"/?master_set=mymaster", store.Limits{})
	if err := s.PutSession(ctx, store.Record{ID: "s", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s", "get", []byte("e")); err != nil {
		t.Fatal(err)
	}
	// The data went to the master the sentinel named.
	if got, err := master.Command("GET", "mooring:{s}:rec"); err != nil || got != "r" {
		t.Fatalf("GET on the master = %q, %v", got, err)
	}
}
