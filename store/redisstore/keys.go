package redisstore

import "strings"

// keys builds the store's key names; see the package doc for the layout.
type keys struct {
	prefix string
}

// session returns the record, event log and meta keys of a session, in the
// order the session scripts take them.
func (k keys) session(id string) []string {
	return k.appendSession(make([]string, 0, 3), id, false)
}

// fenced returns the session's keys followed by its lease key, as the
// session scripts take them.
func (k keys) fenced(id string) []string {
	return k.appendSession(make([]string, 0, 4), id, true)
}

// appendSession appends the session's keys (and, with lease, its lease
// key) to dst: a batch of appends builds the KEYS of all its sessions in
// one slice, without a slice per session.
func (k keys) appendSession(dst []string, id string, lease bool) []string {
	base := k.prefix + "{" + hashTag(id) + "}:"
	dst = append(dst, base+"rec", base+"ev", base+"meta")
	if lease {
		dst = append(dst, base+"lease")
	}
	return dst
}

// record is the session's record key alone: GetSession and the sweep's
// PTTLs need no other.
func (k keys) record(id string) string { return k.prefix + "{" + hashTag(id) + "}:rec" }

// index returns the two index sets, ids then exp.
func (k keys) index() []string {
	return []string{k.prefix + "{index}:ids", k.prefix + "{index}:exp"}
}

// hashTag escapes a session id for use between { and }: Redis hashes the
// text up to the first }, so a } in an id would move some of the session's
// keys to another slot, and an empty tag makes Redis hash the whole key.
// Escaping % as well keeps the mapping one-to-one, and a lone "%" is left
// free to stand for the empty id.
func hashTag(id string) string {
	if id == "" {
		return "%"
	}
	if !strings.ContainsAny(id, "%{}") {
		return id
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// slot is the Cluster hash slot of the keys of a session with the given
// hash tag: CRC16 (XMODEM) of the tag, mod 16384, as Redis computes it.
// The keys of one appendsLua script must share a slot.
func slot(tag string) uint16 {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^tag[i]]
	}
	return crc & (1<<14 - 1)
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()
