package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterTimeout bounds how long a new cluster may take to agree on its
// slots.
const clusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of masters without replicas, each a Server.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n masters with --cluster-enabled, joins them with
// `redis-cli --cluster create` (the slots split evenly, no replicas) and
// waits until every node reports cluster_state:ok. The servers stop when the
// test ends. Redis needs at least 3 masters for a cluster.
func StartCluster(tb testing.TB, n int, opts ...Option) *Cluster {
	tb.Helper()
	cli := lookPath(tb, "redis-cli")
	var base config
	for _, o := range opts {
		o(&base)
	}
	c := &Cluster{}
	for i := range n {
		// The cluster bus port defaults to port+10000, which may be out of
		// range or taken; give each node its own free one.
		bus, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		nodeOpts := append([]Option(nil), opts...)
		if base.dir != "" {
			// Nodes must not share nodes.conf: each gets a directory of its own.
			dir := filepath.Join(base.dir, "node"+strconv.Itoa(i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				tb.Fatalf("redistest: %v", err)
			}
			nodeOpts = append(nodeOpts, Dir(dir))
		}
		nodeOpts = append(nodeOpts, Args(
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "5000",
		))
		c.Servers = append(c.Servers, Start(tb, nodeOpts...))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if pw := c.Servers[0].config.password; pw != "" {
		args = append(args, "-a", pw, "--no-auth-warning")
	}
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return c
}

// Addrs returns host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

// URL returns one redis:// URL naming every node, comma-separated
// ("redis://127.0.0.1:p1,127.0.0.1:p2,..."), the form redisstore accepts.
func (c *Cluster) URL() string {
	u := c.Servers[0].URL()
	return u + "," + strings.Join(c.Addrs()[1:], ",")
}

// waitOK polls CLUSTER INFO on every node until all report
// cluster_state:ok; before that, a node may answer CLUSTERDOWN.
func (c *Cluster) waitOK() error {
	deadline := time.Now().Add(clusterTimeout)
	for _, s := range c.Servers {
		for {
			info, err := s.Command("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster node %s not ok within %v: %q %v", s.Addr(), clusterTimeout, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
