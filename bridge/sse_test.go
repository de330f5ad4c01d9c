package bridge

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestReadEvents(t *testing.T) {
	in := ": heartbeat\r\n" +
		"id: a_1\r\nretry: 250\r\ndata:\r\n\r\n" + // a priming event: an id, no data
		"id: a_2\ndata: {\"x\":\ndata: 1}\n\n" + // data on two lines
		"event: other\ndata: skipped by the caller\n\n" +
		"data: no id\n\n"
	var got []event
	err := readEvents(strings.NewReader(in), func(ev event) bool { got = append(got, ev); return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d events: %+v", len(got), got)
	}
	if got[0].id != "a_1" || !got[0].hasID || got[0].retry != 250*time.Millisecond || len(got[0].data) != 0 {
		t.Errorf("priming event %+v", got[0])
	}
	if got[1].id != "a_2" || string(got[1].data) != "{\"x\":\n1}" {
		t.Errorf("two-line event %+v", got[1])
	}
	if got[2].name != "other" || got[3].hasID {
		t.Errorf("events %+v", got[2:])
	}
	// A stream that ends in the middle of an event broke: the event is
	// dropped and the error says so.
	got = nil
	err = readEvents(strings.NewReader("id: 1\ndata: {}\n\nid: 2\ndata: {"), func(ev event) bool { got = append(got, ev); return true })
	if err != io.ErrUnexpectedEOF || len(got) != 1 {
		t.Errorf("cut stream: %v, %d events", err, len(got))
	}
}
