package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weftkit/weft/protocols/wire"
)

// TestQOTDQuotes: each quote is sent as given followed by "\r\n", whatever
// it holds: none configured gives DefaultQuote, an empty one an empty line,
// a quote of several lines goes whole, and so does one over RFC 865's 512
// characters (Validate reports it: TestQOTDValidate).
func TestQOTDQuotes(t *testing.T) {
	long := strings.Repeat("q", 4096)
	for _, tc := range []struct {
		name   string
		quotes []string
		want   string
	}{
		{"nil", nil, wire.DefaultQuote + "\r\n"},
		{"empty list", []string{}, wire.DefaultQuote + "\r\n"},
		{"empty quote", []string{""}, "\r\n"},
		{"lines", []string{"one\r\ntwo\r\n  -- three"}, "one\r\ntwo\r\n  -- three\r\n"},
		{"longest", []string{strings.Repeat("m", wire.MaxQuoteLength)}, strings.Repeat("m", wire.MaxQuoteLength) + "\r\n"},
		{"long", []string{long}, long + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(readAll(t, serve(t, &wire.QOTD{Quotes: tc.quotes}))); got != tc.want {
				t.Errorf("got %d bytes %.40q, want %d bytes %.40q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

// TestQOTDValidate: Validate reports the first quote over
// wire.MaxQuoteLength bytes (RFC 865: "less than 512 characters"), naming
// it, with wire.ErrQuoteTooLong; no quotes, or quotes within it, are valid.
func TestQOTDValidate(t *testing.T) {
	if wire.MaxQuoteLength != 511 {
		t.Errorf("MaxQuoteLength = %d, want 511 (less than 512)", wire.MaxQuoteLength)
	}
	for _, q := range []*wire.QOTD{{}, {Quotes: []string{}}, {Quotes: []string{"", "a", strings.Repeat("m", 511)}}} {
		if err := q.Validate(); err != nil {
			t.Errorf("Validate(%d quotes) = %v, want nil", len(q.Quotes), err)
		}
	}
	q := &wire.QOTD{Quotes: []string{"a", strings.Repeat("m", 512), strings.Repeat("m", 600)}}
	err := q.Validate()
	if !errors.Is(err, wire.ErrQuoteTooLong) || !strings.Contains(err.Error(), "QOTD.Quotes[1]") {
		t.Errorf("Validate = %v, want ErrQuoteTooLong naming QOTD.Quotes[1]", err)
	}
}
