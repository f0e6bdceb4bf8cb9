package irc

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxClientTagsLength is the most bytes of tags a client may send on a
// line (IRCv3 message-tags): the tags themselves, without the leading '@'
// and the space after them. The rest of the line is bounded by
// MaxLineLength, as an untagged line is.
const MaxClientTagsLength = 4094

// AppendTagged appends m as a wire line with its Tags before it, as a
// client sends them: "@" and the tags sorted by key, separated by ';',
// each "key=value" with the value escaped as IRCv3 message-tags asks ("\:"
// for ';', "\s" for a space, "\\" for a backslash, "\r" and "\n" for CR
// and LF: Parse undoes it exactly), or the key alone when the value is
// empty; then a space and the line Append writes. A key is
// [+][vendor/]name: '+' for a client-only tag (any other is one a server
// specification defines, such as "label"), vendor a host name, name of
// letters, digits and '-'; another key, or a value holding NUL or
// invalid UTF-8, is ErrInvalid. Tags over MaxClientTagsLength bytes, or a
// line over MaxLineLength without them, are ErrLineTooLong. With no tags
// it is Append. On error dst is returned unchanged.
func (m Message) AppendTagged(dst []byte) ([]byte, error) {
	if len(m.Tags) == 0 {
		return m.Append(dst)
	}
	start := len(dst)
	dst = append(dst, '@')
	for i, k := range slices.Sorted(maps.Keys(m.Tags)) {
		v := m.Tags[k]
		if err := checkTagKey(k); err != nil {
			return dst[:start], err
		}
		if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			return dst[:start], fmt.Errorf("%w: tag %s: the value holds NUL or invalid UTF-8", ErrInvalid, k)
		}
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, k...)
		if v != "" {
			dst = append(dst, '=')
			dst = appendEscapedTag(dst, v)
		}
		if n := len(dst) - start - 1; n > MaxClientTagsLength {
			return dst[:start], fmt.Errorf("%w: over %d bytes of tags, the limit is %d", ErrLineTooLong, n, MaxClientTagsLength)
		}
	}
	dst = append(dst, ' ')
	out, err := m.Append(dst)
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// checkTagKey accepts a tag key [+][vendor/]name, vendor a host name
// (letters, digits, '-' and '.'), name letters, digits and '-'.
func checkTagKey(k string) error {
	rest := strings.TrimPrefix(k, "+")
	vendor, name, hasVendor := strings.Cut(rest, "/")
	if !hasVendor {
		vendor, name = "", rest
	}
	ok := name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == "" &&
		(!hasVendor || vendor != "" && strings.Trim(vendor, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == "")
	if !ok {
		return fmt.Errorf("%w: tag key %q: want [+][vendor/]name, vendor a host name, name of letters, digits and '-'", ErrInvalid, k)
	}
	return nil
}

// escapeTag escapes a tag value (see AppendTagged); unescapeTag undoes it.
func escapeTag(v string) string { return string(appendEscapedTag(nil, v)) }

func appendEscapedTag(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			dst = append(dst, '\\', ':')
		case ' ':
			dst = append(dst, '\\', 's')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// SendTagged sends the message command params with the IRCv3 tags given,
// formatted by Message.AppendTagged (its limits and errors): tags with '+'
// ("+typing", "+draft/reply") are client-only tags, which the server
// relays; others must be ones the server understands ("label" with
// labeled-response, ...). Sending tags needs the message-tags capability
// (ask for it in Config.Caps): without it nothing is sent and the error
// is ErrTagsNotEnabled. With no tags it is Send. Like Send, it does not
// reckon with the prefix the server adds when it relays a PRIVMSG or
// NOTICE (see MaxText). "TAGMSG" (a message of tags alone) is a command
// like another.
func (c *Client) SendTagged(tags map[string]string, command string, params ...string) error {
	m := Message{Command: command, Params: params, Tags: tags}
	c.mu.Lock()
	t, enabled := c.t, c.capEnabledLocked("message-tags")
	c.mu.Unlock()
	if t == nil {
		return ErrNotConnected
	}
	if len(tags) > 0 && !enabled {
		return fmt.Errorf("%w: %s not sent with its tags", ErrTagsNotEnabled, command)
	}
	b, err := m.AppendTagged(nil)
	if err != nil {
		return err
	}
	_, err = t.Write(b)
	return err
}

// Time returns the time of the message from its IRCv3 server-time tag
// ("time", "2026-11-27T01:02:03.456Z": RFC 3339 in UTC with
// milliseconds; another offset, or other fractions of a second, are
// accepted too), in UTC. It is false when the message has no such tag or
// it does not parse (ask for "server-time" in Config.Caps to get it).
func (m Message) Time() (time.Time, bool) {
	v, ok := m.Tags["time"]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
