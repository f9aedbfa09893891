package pyapi

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestForkServerExitCode(t *testing.T) {
	code := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	tests := []struct {
		name   string
		report []byte // what the server sends before hanging up; nil: nothing
		want   int
	}{
		{"exit status", code(3), 3},
		{"killed by a signal", code(-9), -9},
		{"hung up first", nil, ForkServerLost},
		{"cut short", code(0)[:5], ForkServerLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			if tt.report != nil {
				if _, err := unix.Write(fds[1], tt.report); err != nil {
					t.Fatal(err)
				}
			}
			unix.Close(fds[1])
			if got := ForkServerExitCode(fds[0]); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
			if tt.want != ForkServerLost { // peeked, not consumed: Popen reads it too
				var b [8]byte
				if n, _ := unix.Read(fds[0], b[:]); n != 8 {
					t.Fatalf("the report was consumed: read %d bytes after", n)
				}
			}
		})
	}
}
