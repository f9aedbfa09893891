package fptest

import (
	"os"
	"testing"
)

const childEnv = "GOMPX_FPTEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "kill":
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
		select {}
	case "exit":
		// fd 3 is the shared file: it must be there.
		if _, err := os.NewFile(3, "shared").Stat(); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKilledTellsSIGKILLFromExit(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "shared")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		child  string
		killed bool
	}{
		{"kill", true},
		{"exit", false},
	}
	for _, tt := range tests {
		err := Command(t, int(f.Fd()), "", childEnv+"="+tt.child).Run()
		if Killed(err) != tt.killed {
			t.Errorf("child %s: %v, Killed = %v, want %v", tt.child, err, Killed(err), tt.killed)
		}
		if !tt.killed && err != nil {
			t.Errorf("child %s: %v (fd 3 missing?)", tt.child, err)
		}
	}
}
