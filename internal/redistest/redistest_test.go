package redistest

import (
	"strconv"
	"strings"
	"testing"
)

func TestStart_AnswersPingAndStops(t *testing.T) {
	s := Start(t)
	if got, err := s.Command("PING"); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if got, err := s.Command("CONFIG", "GET", "appendonly"); err != nil || got != "appendonly\nno" {
		t.Fatalf("CONFIG GET appendonly = %q, %v", got, err)
	}
	s.Stop()
	if _, err := s.Command("PING"); err == nil {
		t.Fatal("PING after Stop succeeded")
	}
	s.Stop() // stopping twice is harmless
}

func TestRestart_AppendOnlyKeepsData(t *testing.T) {
	s := Start(t, AppendOnly())
	if _, err := s.Command("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("address changed from %s to %s", addr, s.Addr())
	}
	if got, err := s.Command("GET", "k"); err != nil || got != "v" {
		t.Fatalf("GET k after restart = %q, %v", got, err)
	}
}

func TestRestart_WithoutPersistenceLosesData(t *testing.T) {
	s := Start(t)
	if _, err := s.Command("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if got, err := s.Command("GET", "k"); err != nil || got != "" {
		t.Fatalf("GET k after restart = %q, %v; want nothing", got, err)
	}
}

func TestPassword_RequiredAndUsed(t *testing.T) {
	s := Start(t, Password("s3cret"))
	if got, err := s.Command("PING"); err != nil || got != "PONG" {
		t.Fatalf("authenticated PING = %q, %v", got, err)
	}
	if _, err := command(s.Addr(), "", "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without password: err = %v, want NOAUTH", err)
	}
	if !strings.HasPrefix(s.URL(), "redis://:s3cret@127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
}

func TestStartCluster_SlotsCovered(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("Addrs = %v", c.Addrs())
	}
	for _, s := range c.Servers {
		info, err := s.Command("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("CLUSTER INFO on %s = %q, %v", s.Addr(), info, err)
		}
	}
	if got := strings.Count(c.URL(), ","); got != 2 {
		t.Fatalf("URL = %q, want three comma-separated addresses", c.URL())
	}
}

func TestStartSentinel_KnowsMaster(t *testing.T) {
	m := Start(t, Password("pw"))
	s := StartSentinel(t, m, "mymaster")
	got, err := s.Command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if err != nil || got != "127.0.0.1\n"+strconv.Itoa(m.Port()) {
		t.Fatalf("GET-MASTER-ADDR-BY-NAME = %q, %v", got, err)
	}
}
