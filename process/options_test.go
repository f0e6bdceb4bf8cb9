package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts *Options
		want string // substring of the error; "" for valid
	}{
		{"nil", nil, ""},
		{"zero", &Options{}, ""},
		{"all set", &Options{MaxWriteBuffer: 1 << 20, HighWater: 1 << 16, LowWater: 1 << 10, ReadBufferSize: 1, WaitDelay: 1}, ""},
		{"small max lowers high", &Options{MaxWriteBuffer: 100}, ""},
		{"negative max", &Options{MaxWriteBuffer: -1}, "Options.MaxWriteBuffer"},
		{"negative high", &Options{HighWater: -1}, "Options.HighWater"},
		{"negative low", &Options{LowWater: -1}, "Options.LowWater"},
		{"negative read", &Options{ReadBufferSize: -1}, "Options.ReadBufferSize"},
		{"huge read buffer", &Options{ReadBufferSize: MaxReadBufferSize + 1}, "Options.ReadBufferSize 16777217 exceeds"},
		{"negative delay", &Options{WaitDelay: -1}, "Options.WaitDelay"},
		{"low above high", &Options{HighWater: 10, LowWater: 11}, "Options.LowWater 11 exceeds HighWater 10"},
		{"high above max", &Options{HighWater: 10, MaxWriteBuffer: 5}, "Options.HighWater 10 exceeds MaxWriteBuffer 5"},
		{"negative fd", &Options{ChildFDs: map[int]Direction{-1: Read}}, "descriptor -1 out of range"},
		{"huge fd", &Options{ChildFDs: map[int]Direction{1 << 20: Read}}, "out of range"},
		{"bad direction", &Options{ChildFDs: map[int]Direction{1: 7}}, "Options.ChildFDs[1]: invalid Direction(7)"},
		{"zero direction", &Options{ChildFDs: map[int]Direction{3: 0}}, "Options.ChildFDs[3]"},
		{"empty map", &Options{ChildFDs: map[int]Direction{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalidOptions mentioning %q", err, tt.want)
			}
		})
	}
}

func TestStartRejects(t *testing.T) {
	cat := lookPath(t, "cat")
	started := exec.Command(cat)
	started.Process = &os.Process{Pid: 1}
	withStdin := exec.Command(cat)
	withStdin.Stdin = strings.NewReader("")
	withExtra := exec.Command(cat)
	withExtra.ExtraFiles = []*os.File{os.Stdin}
	tests := []struct {
		name string
		cmd  *exec.Cmd
		p    ProcessProtocol
		opts *Options
		want string
	}{
		{"nil cmd", nil, Base{}, nil, "nil *exec.Cmd"},
		{"nil protocol", exec.Command(cat), nil, nil, "nil ProcessProtocol"},
		{"started", started, Base{}, nil, "already started"},
		{"bad options", exec.Command(cat), Base{}, &Options{LowWater: -5}, "Options.LowWater"},
		{"stdin conflict", withStdin, Base{}, &Options{ChildFDs: map[int]Direction{0: Write}}, "Options.ChildFDs[0] conflicts with Cmd.Stdin"},
		{"extra conflict", withExtra, Base{}, &Options{ChildFDs: map[int]Direction{3: Read}}, "Options.ChildFDs[3] conflicts with Cmd.ExtraFiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(context.Background(), tt.cmd, tt.p, tt.opts)
			if err == nil || !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want ErrInvalidOptions mentioning %q", err, tt.want)
			}
			if p != nil {
				t.Errorf("Start returned a Process with an error")
			}
		})
	}
}

func TestDirectionString(t *testing.T) {
	for d, want := range map[Direction]string{Read: "read", Write: "write", 0: "Direction(0)"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(d), got, want)
		}
	}
}

func TestProcessTerminatedError(t *testing.T) {
	tests := []struct {
		pt   ProcessTerminated
		want string
	}{
		{ProcessTerminated{ExitCode: 3}, "process: exited with status 3"},
		{ProcessTerminated{ExitCode: -1, Signal: 9}, "process: killed by signal 9 (killed)"},
		{ProcessTerminated{ExitCode: -1, Signal: 9, Cause: context.Canceled}, "process: killed by signal 9 (killed): context canceled"},
	}
	for _, tt := range tests {
		if got := tt.pt.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(&tt.pt, ErrProcessTerminated) {
			t.Errorf("%v does not match ErrProcessTerminated", &tt.pt)
		}
		if errors.Is(&tt.pt, ErrProcessDone) {
			t.Errorf("%v matches ErrProcessDone", &tt.pt)
		}
		if got := errors.Is(&tt.pt, context.Canceled); got != (tt.pt.Cause != nil) {
			t.Errorf("%v matches context.Canceled: %v", &tt.pt, got)
		}
	}
	if c, s := ExitStatus(errors.New("other")); c != -1 || s != 0 {
		t.Errorf("ExitStatus(other) = %d, %v", c, s)
	}
	if c, s := ExitStatus(nil); c != 0 || s != 0 {
		t.Errorf("ExitStatus(nil) = %d, %v", c, s)
	}
}
