package endpoint

import (
	"errors"
	"testing"
)

func TestParseServerStdio(t *testing.T) {
	for _, desc := range []string{"stdio:", "stdio"} {
		s, err := ParseServer(desc)
		if err != nil || s.Type != "stdio" || s.Network != "stdio" || s.Desc != desc {
			t.Errorf("ParseServer(%q) = %+v, %v", desc, s, err)
		}
	}
	for _, tt := range []struct {
		desc, part string
		want       error
	}{
		{"stdio:x", "x", ErrArguments},
		{"stdio::", "positional", ErrArguments},
		{"stdio:mode=600", "mode", ErrUnknownKeyword},
	} {
		_, err := ParseServer(tt.desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tt.want) || e.Part != tt.part {
			t.Errorf("ParseServer(%q) err = %v, want part %q matching %v", tt.desc, err, tt.part, tt.want)
		}
	}
	if _, err := (&Server{Type: "stdio", Backlog: 5}).Listen(t.Context()); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("stdio with a backlog: err = %v, want ErrInvalidValue", err)
	}
}
