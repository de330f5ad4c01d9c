package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad flag value answers with the error and a hint, not with the list of
// every flag that buries it; --help lists them, and `mooring --help` shows
// the other commands too.
func TestRun_BadFlagIsShortHelpIsFull(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--drain-grace", "5"}, &out, &errOut); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	msg := errOut.String()
	if !strings.Contains(msg, `invalid value "5" for flag -drain-grace`) || !strings.Contains(msg, "mooring serve --help") {
		t.Errorf("stderr %q: want the error and a hint at --help", msg)
	}
	if !strings.Contains(msg, "a duration needs a unit") {
		t.Errorf("stderr %q: want what a duration looks like", msg)
	}
	if strings.Contains(msg, "-addr string") || strings.Count(msg, "\n") > 3 {
		t.Errorf("stderr lists the flags (%d lines): %q", strings.Count(msg, "\n"), msg)
	}

	for _, args := range [][]string{{"--help"}, {"serve", "-h"}} {
		errOut.Reset()
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Errorf("%v: exit %d, want 0", args, code)
		}
		if help := errOut.String(); !strings.Contains(help, "mooring connect URL") || !strings.Contains(help, "-drain-grace duration") {
			t.Errorf("%v: %q: want the commands and serve's flags", args, help)
		}
	}

	errOut.Reset()
	if code := run(context.Background(), []string{"sessions", "--limit", "x"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "mooring sessions --help") {
		t.Errorf("sessions --limit x: exit %d, stderr %q: want 2 and a hint at --help", code, errOut.String())
	}

	// The same for a config file, which gives a duration as a number.
	file := filepath.Join(t.TempDir(), "mooring.json")
	if err := os.WriteFile(file, []byte(`{"drain-grace": 5, "store": "memory"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"--config", file}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "drain-grace") || !strings.Contains(errOut.String(), "a duration needs a unit") {
		t.Errorf("config file with drain-grace 5: exit %d, stderr %q: want 1 and what a duration looks like", code, errOut.String())
	}
}
