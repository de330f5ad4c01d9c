package bridge

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// event is one server-sent event.
type event struct {
	id    string
	name  string
	data  []byte
	retry time.Duration // 0: none given
	hasID bool
}

// readEvents parses the SSE stream r and calls fn for each event, in order,
// until the stream ends (nil) or breaks (the read error). fn returning false
// stops the reading early.
func readEvents(r io.Reader, fn func(event) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev event
	var data [][]byte
	pending := false
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if err == io.EOF && len(line) == 0 {
				// A stream that ends mid-event drops that event, as
				// the SSE spec says.
				return nil
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if pending {
				ev.data = bytes.Join(data, []byte("\n"))
				if !fn(ev) {
					return nil
				}
			}
			ev, data, pending = event{}, nil, false
			continue
		}
		if line[0] == ':' {
			continue // a comment: a heartbeat
		}
		field, value, _ := strings.Cut(string(line), ":")
		value = strings.TrimPrefix(value, " ")
		pending = true
		switch field {
		case "id":
			ev.id, ev.hasID = value, true
		case "event":
			ev.name = value
		case "data":
			data = append(data, []byte(value))
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}
