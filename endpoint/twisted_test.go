package endpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// twistedParse feeds descriptions (one JSON string per line) to Twisted's own
// endpoint parser (twisted.internet.endpoints._parse) and returns, for each,
// [args, kwargs] or null when Twisted raised.
const twistedParse = `
import json, sys
from twisted.internet.endpoints import _parse
for line in sys.stdin:
    desc = json.loads(line)
    try:
        args, kw = _parse(desc)
        print(json.dumps([args, kw]))
    except Exception:
        print("null")
`

// TestTokenizeMatchesTwisted compares the tokenizer with Twisted's parser on
// random descriptions built from the characters that matter.
func TestTokenizeMatchesTwisted(t *testing.T) {
	py := testenv.Twisted(t)
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "b", ":", ":", "=", "=", `\`, "é", " "}
	descs := []string{"", "tcp:80", `unix:foo\:bar\=baz\:qux\\`, "unix:address=foo=bar", "a:b:d=1:c", "x=y:z", "tcp:80:=x", "tcp::", `x\`}
	for range 3000 {
		var b strings.Builder
		for range r.IntN(10) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		descs = append(descs, b.String())
	}
	var in bytes.Buffer
	for _, d := range descs {
		j, _ := json.Marshal(d)
		in.Write(j)
		in.WriteByte('\n')
	}
	cmd := exec.Command(py, "-c", twistedParse)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("twisted parser: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(descs) {
		t.Fatalf("%d answers for %d descriptions", len(lines), len(descs))
	}
	mismatches := 0
	for i, d := range descs {
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil || want != nil && len(want) != 2 {
			t.Fatalf("%q: Twisted answered %q (%v), want null or [args, kwargs]", d, lines[i], err)
		}
		a, err := tokenize(d)
		if want == nil {
			if err == nil {
				t.Errorf("%q: Twisted raised, weft parsed %q %q", d, a.pos, a.kw)
				mismatches++
			}
			continue
		}
		var wpos []string
		var wkw map[string]string
		if err := errors.Join(json.Unmarshal(want[0], &wpos), json.Unmarshal(want[1], &wkw)); err != nil {
			t.Fatalf("%q: Twisted answered %q: %v", d, lines[i], err)
		}
		if err != nil || !reflect.DeepEqual(a.pos, wpos) && len(a.pos)+len(wpos) > 0 || !reflect.DeepEqual(a.kw, wkw) {
			t.Errorf("%q: Twisted %q %q, weft %q %q (%v)", d, wpos, wkw, a.pos, a.kw, err)
			mismatches++
		}
		if mismatches > 10 {
			t.Fatal("too many mismatches")
		}
	}
	t.Logf("%d random descriptions tokenized identically by Twisted's endpoints._parse and weft", len(descs))
}
