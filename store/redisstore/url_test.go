package redisstore

import (
	"slices"
	"strings"
	"testing"
)

func TestClientOption_URLForms(t *testing.T) {
	tests := []struct {
		url       string
		addrs     []string
		user, pw  string
		tls       bool
		masterSet string
		sentUser  string
		sentPw    string
		db        int
	}{
		{url: "redis://127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}},
		{url: "redis://h", addrs: []string{"h:6379"}},
		{url: "redis://h:1/3", addrs: []string{"h:1"}, db: 3},
		{url: "rediss://redis.example.com:6380", addrs: []string{"redis.example.com:6380"}, tls: true},
		{url: "redis://:p%40ss@h:1", addrs: []string{"h:1"}, pw: "p@ss"},
		{url: "redis://alice:secret@h:1", addrs: []string{"h:1"}, user: "alice", pw: "secret"},
		{url: "redis://a:7000,b:7001,c", addrs: []string{"a:7000", "b:7001", "c:6379"}},
		{url: "redis://u:p@a:7000,b:7001/?client_name=x", addrs: []string{"a:7000", "b:7001"}, user: "u", pw: "p"},
		{url: "redis://a:1?addr=b:2", addrs: []string{"a:1", "b:2"}},
		{
			url:   "redis://u:p@s1:26379,s2:26379/?master_set=mymaster&sentinel_user=su&sentinel_password=sp",
			addrs: []string{"s1:26379", "s2:26379"}, user: "u", pw: "p", masterSet: "mymaster", sentUser: "su", sentPw: "sp",
		},
		{url: "valkeys://v:1", addrs: []string{"v:1"}, tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			opt, err := clientOption(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(opt.InitAddress, tt.addrs) {
				t.Errorf("addresses = %v, want %v", opt.InitAddress, tt.addrs)
			}
			if opt.Username != tt.user || opt.Password != tt.pw {
				t.Errorf("credentials = %q:%q, want %q:%q", opt.Username, opt.Password, tt.user, tt.pw)
			}
			if (opt.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS = %v, want %v", opt.TLSConfig != nil, tt.tls)
			}
			if opt.TLSConfig != nil && opt.TLSConfig.ServerName != "" {
				t.Errorf("TLS server name = %q; want it taken from each address", opt.TLSConfig.ServerName)
			}
			if opt.Sentinel.MasterSet != tt.masterSet || opt.Sentinel.Username != tt.sentUser || opt.Sentinel.Password != tt.sentPw {
				t.Errorf("sentinel = %q %q:%q", opt.Sentinel.MasterSet, opt.Sentinel.Username, opt.Sentinel.Password)
			}
			if opt.SelectDB != tt.db {
				t.Errorf("db = %d, want %d", opt.SelectDB, tt.db)
			}
			if !opt.DisableCache {
				t.Error("client-side caching is on")
			}
		})
	}
}

func TestClientOption_Errors(t *testing.T) {
	for _, url := range []string{"127.0.0.1:6379", "http://h:1", "redis://a,,b", "redis://a,", "redis://h:1/x"} {
		if _, err := clientOption(url); err == nil {
			t.Errorf("clientOption(%q) succeeded", url)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis://h:1":                  "redis://h:1",
		"redis://:secret@h:1/0":        "redis://:xxxxx@h:1/0",
		"redis://u:secret@a:1,b:2?x=1": "redis://u:xxxxx@a:1,b:2?x=1",
		"no scheme":                    "<unparsable URL>",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(redact(in), "secret") {
			t.Errorf("redact(%q) shows the password", in)
		}
	}
}

func TestHashTag_OneToOne(t *testing.T) {
	ids := []string{"", "%", "%25", "{", "%7B", "}", "%7D", "a{b}c", "plain"}
	seen := map[string]string{}
	for _, id := range ids {
		tag := hashTag(id)
		if tag == "" || strings.ContainsAny(tag, "{}") {
			t.Errorf("hashTag(%q) = %q", id, tag)
		}
		if other, ok := seen[tag]; ok {
			t.Errorf("hashTag(%q) = hashTag(%q) = %q", id, other, tag)
		}
		seen[tag] = id
	}
}
