package session

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Record is what the store keeps of a session: enough to rebuild its backend
// connection on any replica (DESIGN.md, invariant 3).
type Record struct {
	ID string `json:"id"`
	// Server names the backend server whose endpoint created the session
	// (Options.Server); "" when mooring serves one.
	Server string `json:"server,omitempty"`
	// Principal is who created the session (issuer and subject of the
	// client's token; "" without authentication). Every later request must
	// come from the same principal (the transport compares).
	Principal string `json:"principal,omitempty"`
	// ProtocolVersion is the version that initialize negotiated.
	ProtocolVersion string `json:"protocolVersion"`
	// InitializeParams are the client's initialize params, verbatim.
	InitializeParams json.RawMessage `json:"initializeParams"`
	// LogLevel is the last level set with logging/setLevel ("" if none).
	LogLevel string `json:"logLevel,omitempty"`
	// Subscriptions are the resource URIs subscribed to, in order.
	Subscriptions []string `json:"subscriptions,omitempty"`
	// RemoteSession is the id of the session that the backend server
	// keeps for this one (an upstream HTTP server's Mcp-Session-Id), so
	// that a restore after a crash can end it (backend.RemoteEnder).
	RemoteSession string `json:"remoteSession,omitempty"`
	// Initialized is set once the client sent notifications/initialized.
	Initialized bool      `json:"initialized,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func (r *Record) marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("session: encode record %q: %w", r.ID, err)
	}
	return b, nil
}

func unmarshalRecord(id string, b []byte) (*Record, error) {
	r := new(Record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("session: decode record %q: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("session: record %q holds id %q", id, r.ID)
	}
	return r, nil
}

func (r *Record) clone() *Record {
	c := *r
	c.Subscriptions = slices.Clone(r.Subscriptions)
	return &c
}

// subscribe adds uri; it reports whether the record changed.
func (r *Record) subscribe(uri string) bool {
	if slices.Contains(r.Subscriptions, uri) {
		return false
	}
	r.Subscriptions = append(r.Subscriptions, uri)
	return true
}

// unsubscribe removes uri; it reports whether the record changed.
func (r *Record) unsubscribe(uri string) bool {
	i := slices.Index(r.Subscriptions, uri)
	if i < 0 {
		return false
	}
	r.Subscriptions = slices.Delete(r.Subscriptions, i, i+1)
	return true
}
