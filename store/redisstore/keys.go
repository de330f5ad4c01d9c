package redisstore

import "strings"

// keys builds the store's key names; see the package doc for the layout.
type keys struct {
	prefix string
}

// session returns the record, event log and meta keys of a session, in the
// order the session scripts take them.
func (k keys) session(id string) []string {
	base := k.prefix + "{" + hashTag(id) + "}:"
	return []string{base + "rec", base + "ev", base + "meta"}
}

func (k keys) record(id string) string { return k.session(id)[0] }

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
