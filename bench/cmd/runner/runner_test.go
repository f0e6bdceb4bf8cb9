package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMeasureEndToEnd builds the generator and the Go peers, then measures
// a short S1, S7, B0 and B on each Go server through the runner's own code
// (pinning, readiness line, generator, stop).
func TestMeasureEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs servers; skipped with -short")
	}
	testenv.LookPath(t, "taskset", "util-linux")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ts := &toolset{bin: filepath.Join(out, "bin"), benchDir: filepath.Join(wd, "..", "..")}
	if err := ts.build("weftecho"); err != nil {
		t.Fatal(err)
	}
	cfg := &config{dur: 300 * time.Millisecond, warmup: 100 * time.Millisecond, serverCPU: 0, genCPU: 0, out: out, ts: ts}
	scs, _ := pickScenarios(scenarios(100), "S1,S7,B0,B")
	kinds := ts.servers()
	for _, sc := range scs {
		for _, name := range []string{"weft", "weftepoll", "gnet", "plain"} {
			m := cfg.measure(sc, kinds[name], 1)
			if m == nil {
				t.Fatalf("%s %s: not measured", sc.ID, name)
			}
			if m.Err != "" || m.Result == nil || m.Result.Msgs == 0 {
				t.Errorf("%s %s: %+v", sc.ID, name, m)
				continue
			}
			if sc.BlockConns > 0 && (m.BlockSet == nil || m.BlockSet.Msgs == 0) {
				t.Errorf("%s %s: blocking set did not run: %+v", sc.ID, name, m.BlockSet)
			}
			if sc.BlockConns == 0 && m.BlockSet != nil {
				t.Errorf("%s %s: a blocking set ran: %+v", sc.ID, name, m.BlockSet)
			}
		}
	}
	if m := cfg.measure(scs[0], kinds["naive"], 1); m == nil || m.Err != "" {
		t.Errorf("naive S1: %+v", m)
	}
	if m := cfg.measure(scs[1], kinds["naive"], 1); m != nil {
		t.Errorf("naive ran S7: %+v", m)
	}
}

// TestMeasureTwisted runs the Twisted peer (Debian python3-twisted) through
// the runner: echo S1 and S3, chat S7.
func TestMeasureTwisted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers; skipped with -short")
	}
	testenv.LookPath(t, "taskset", "util-linux")
	testenv.Twisted(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ts := &toolset{bin: filepath.Join(out, "bin"), benchDir: filepath.Join(wd, "..", "..")}
	cmd := exec.Command("go", "build", "-o", ts.bin+"/", "./cmd/loadgen")
	cmd.Dir = ts.benchDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building loadgen: %v\n%s", err, b)
	}
	cfg := &config{dur: 300 * time.Millisecond, warmup: 100 * time.Millisecond, out: out, ts: ts}
	scs, _ := pickScenarios(scenarios(100), "S1,S3,S7")
	for _, sc := range scs {
		m := cfg.measure(sc, ts.servers()["twisted"], 1)
		if m == nil || m.Err != "" || m.Result == nil || m.Result.Msgs == 0 {
			t.Errorf("%s twisted: %+v", sc.ID, m)
		}
	}
}
