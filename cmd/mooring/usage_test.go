package main

import (
	"bytes"
	"context"
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
}
