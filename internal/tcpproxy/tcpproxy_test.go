//go:build linux

package tcpproxy

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCloseDuringDial: a connection the proxy accepted just before Close,
// whose upstream dial completes after Close cut the connections, is closed
// too, and Close returns. The target's accept queue is kept full, so the
// proxy's dial waits (SYN retransmits) until the test lets it through
// while Close runs.
func TestCloseDuringDial(t *testing.T) {
	target := fullListener(t)
	p, err := New(target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	waitFor(t, "the proxy's dial to the target waiting", func() bool { return synSent(t, target.Addr()) })

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	waitFor(t, "Close to begin", func() bool {
		c, err := net.Dial("tcp", p.Addr())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// Room in the target's queue: the proxy's dial completes (at its next
	// SYN retransmit), after Close's Cut.
	filler, err := target.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()

	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		target.Close() // lets the test end: the upstream side breaks
		t.Fatal("Close did not return: it waits on a connection dialed after its Cut")
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := client.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Errorf("the client's connection is still open after Close: read %d, %v", n, err)
	}
}

// fullListener is a loopback listener with a backlog of 0 whose one queue
// place is taken (by a connection the test never closes before the end):
// a further dial to it waits.
func fullListener(t *testing.T) net.Listener {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "backlog-0")
	defer f.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ln
}

// synSent reports whether a connection to addr is in SYN_SENT, as
// /proc/net/tcp lists it.
func synSent(t *testing.T, addr net.Addr) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	remote := fmt.Sprintf("0100007F:%04X", addr.(*net.TCPAddr).Port)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == remote && f[3] == "02" {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
