package irc

import (
	"bytes"
	"fmt"
	"strings"
)

// MaxLineLength is the longest IRC line, counting the final "\r\n"
// (RFC 1459 section 2.3, RFC 2812 section 2.3).
const MaxLineLength = 512

// maxContent is the longest line content, without "\r\n".
const maxContent = MaxLineLength - 2

// MaxIncomingLineLength is the longest line the client accepts from a
// server, counting "\r\n": the IRCv3 message-tags bound, 8191 bytes of tags
// (the leading '@' and the space after them included) plus MaxLineLength
// for the rest of the line. It holds for any line, tagged or not, since
// servers do send lines over 512 bytes; what the client sends stays within
// MaxLineLength.
const MaxIncomingLineLength = MaxTagsLength + MaxLineLength

// MaxTagsLength is the longest IRCv3 message-tags section Parse accepts,
// counting its leading '@' and the space after it (IRCv3 message-tags).
const MaxTagsLength = 8191

// MaxParams is the most parameters a message may carry (RFC 2812).
const MaxParams = 15

// Message is one IRC message:
//
//	["@" Tags " "] [":" Prefix " "] Command {" " Param} [" :" Trailing]
//
// The trailing parameter, if any, is the last element of Params: Message
// does not remember whether it was written with a ':'.
type Message struct {
	// Prefix is the origin ("nick!user@host" or a server name), without
	// the leading ':'. Empty: no prefix.
	Prefix string
	// Command is a command name (letters, upper-cased by Parse) or a
	// three-digit numeric reply such as "001" or "433".
	Command string
	// Params are the parameters, the trailing one last.
	Params []string
	// Tags are the line's IRCv3 message tags ("@key=value;key2 " before
	// the prefix), each value unescaped ("\:" is ';', "\s" a space, "\\"
	// a backslash, "\r" CR, "\n" LF, a backslash before any other
	// character dropped, as is a lone one at the end: a value may hold
	// CR, LF or a space); a tag without a value, or with an empty one,
	// maps to "", and of a key given twice the last value is kept. Nil
	// when the line has none. Append does not write them; AppendTagged
	// does (Client.SendTagged, once the server enabled message-tags).
	Tags map[string]string
}

// Nick returns the nick part of the prefix ("nick" of "nick!user@host").
func (m Message) Nick() string { return NickOf(m.Prefix) }

// Param returns Params[i], or "" when there is no such parameter.
func (m Message) Param(i int) string {
	if i < 0 || i >= len(m.Params) {
		return ""
	}
	return m.Params[i]
}

// NickOf returns the nick of a prefix: everything before the first '!' or
// '@'.
func NickOf(prefix string) string {
	if i := strings.IndexAny(prefix, "!@"); i >= 0 {
		return prefix[:i]
	}
	return prefix
}

// Parse parses one line. The line may end in "\r\n", in a bare "\n" or in
// nothing; it may hold at most MaxIncomingLineLength bytes counting
// "\r\n", tagged or not (Message.Append, for what is sent, keeps to
// MaxLineLength). An IRCv3 message-tags section ('@' and the tags, up to
// the first space; at most MaxTagsLength bytes with the space, or
// ErrLineTooLong) is kept in Tags, unescaped (see Message). Runs of spaces
// between parts are accepted. Letters in Command are upper-cased. After 14
// middle parameters the rest of the line is the trailing one, with or
// without ':' (RFC 2812).
func Parse(line []byte) (Message, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > MaxIncomingLineLength-2 {
		return Message{}, fmt.Errorf("%w: %d bytes, the limit is %d with CRLF", ErrLineTooLong, len(line)+2, MaxIncomingLineLength)
	}
	if i := bytes.IndexAny(line, "\x00\r\n"); i >= 0 {
		return Message{}, fmt.Errorf("%w: byte %#x at offset %d", ErrMalformed, line[i], i)
	}
	var m Message
	rest := string(line)
	if strings.HasPrefix(rest, "@") {
		// IRCv3 message tags: brought by capabilities asked with
		// Config.Caps (message-tags, server-time, ...), or sent anyway
		// by a server or bouncer.
		tags, after, ok := strings.Cut(rest, " ")
		if tags == "@" || !ok {
			return Message{}, fmt.Errorf("%w: empty tags or tags without a command", ErrMalformed)
		}
		if n := len(tags) + 1; n > MaxTagsLength {
			return Message{}, fmt.Errorf("%w: tags section of %d bytes, the limit is %d", ErrLineTooLong, n, MaxTagsLength)
		}
		m.Tags = parseTags(tags[1:])
		rest = strings.TrimLeft(after, " ")
	}
	if strings.HasPrefix(rest, ":") {
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			return Message{}, fmt.Errorf("%w: prefix without a command", ErrMalformed)
		}
		m.Prefix, rest = rest[1:end], rest[end:]
		if m.Prefix == "" {
			return Message{}, fmt.Errorf("%w: empty prefix", ErrMalformed)
		}
	}
	rest = strings.TrimLeft(rest, " ")
	cmd, rest, _ := strings.Cut(rest, " ")
	if err := checkCommand(cmd); err != nil {
		return Message{}, err
	}
	m.Command = strings.ToUpper(cmd)
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		if rest[0] == ':' {
			m.Params = append(m.Params, rest[1:])
			break
		}
		if len(m.Params) == MaxParams-1 {
			m.Params = append(m.Params, rest)
			break
		}
		var p string
		p, rest, _ = strings.Cut(rest, " ")
		m.Params = append(m.Params, p)
	}
	return m, nil
}

// parseTags parses an IRCv3 tags section, without its '@': "key=value"
// tags separated by ';', each value unescaped (see Message.Tags). Empty
// tags and keys are skipped; nil when no tag is left. Its size is bounded
// by the section's, which Parse bounds.
func parseTags(s string) map[string]string {
	var tags map[string]string
	for s != "" {
		var tag string
		tag, s, _ = strings.Cut(s, ";")
		key, value, _ := strings.Cut(tag, "=")
		if key == "" {
			continue
		}
		if tags == nil {
			tags = make(map[string]string)
		}
		tags[key] = unescapeTag(value)
	}
	return tags
}

// unescapeTag undoes the IRCv3 message-tags escaping of a tag value: "\:"
// is ';', "\s" a space, "\\" a backslash, "\r" CR, "\n" LF; a backslash
// before any other character is dropped, and so is a lone one at the end.
func unescapeTag(v string) string {
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		if i++; i == len(v) {
			break
		}
		switch c := v[i]; c {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkCommand accepts letters or exactly three digits.
func checkCommand(cmd string) error {
	if cmd == "" {
		return fmt.Errorf("%w: no command", ErrMalformed)
	}
	digits, letters := 0, 0
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letters++
		default:
			return fmt.Errorf("%w: command %q has byte %#x", ErrMalformed, cmd, c)
		}
	}
	if letters > 0 && digits > 0 || digits > 0 && digits != 3 {
		return fmt.Errorf("%w: command %q is neither letters nor a 3-digit numeric", ErrMalformed, cmd)
	}
	return nil
}

// String formats m without "\r\n", or returns "" if m is invalid (see
// Append).
func (m Message) String() string {
	b, err := m.Append(nil)
	if err != nil {
		return ""
	}
	return string(b[:len(b)-2])
}

// Append appends m as a wire line, "\r\n" included. The last parameter is
// written as a trailing one (with ':') when it is empty, holds a space or
// starts with ':'. It refuses (ErrInvalid) a bad command, a prefix with a
// space, an empty or spaced or ':'-led middle parameter, more than
// MaxParams parameters, or a NUL, CR or LF anywhere; and (ErrLineTooLong) a
// line over MaxLineLength bytes. On error dst is returned unchanged.
func (m Message) Append(dst []byte) ([]byte, error) {
	if err := m.validate(); err != nil {
		return dst, err
	}
	start := len(dst)
	if m.Prefix != "" {
		dst = append(dst, ':')
		dst = append(dst, m.Prefix...)
		dst = append(dst, ' ')
	}
	dst = append(dst, m.Command...)
	for i, p := range m.Params {
		dst = append(dst, ' ')
		if i == len(m.Params)-1 && (p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0) {
			dst = append(dst, ':')
		}
		dst = append(dst, p...)
	}
	if n := len(dst) - start; n > maxContent {
		return dst[:start], fmt.Errorf("%w: %s is %d bytes, the limit is %d with CRLF", ErrLineTooLong, m.Command, n+2, MaxLineLength)
	}
	return append(dst, '\r', '\n'), nil
}

func (m Message) validate() error {
	if err := checkCommand(m.Command); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if strings.ContainsAny(m.Prefix, " \x00\r\n") {
		return fmt.Errorf("%w: prefix %q", ErrInvalid, m.Prefix)
	}
	if len(m.Params) > MaxParams {
		return fmt.Errorf("%w: %d parameters, the limit is %d", ErrInvalid, len(m.Params), MaxParams)
	}
	for i, p := range m.Params {
		if strings.ContainsAny(p, "\x00\r\n") {
			return fmt.Errorf("%w: parameter %d holds NUL, CR or LF", ErrInvalid, i)
		}
		if i < len(m.Params)-1 && (p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0) {
			return fmt.Errorf("%w: middle parameter %d %q is empty, starts with ':' or holds a space", ErrInvalid, i, p)
		}
	}
	return nil
}
