//go:build gompx_failpoints

package arena

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/gompx/gompx/gompx/internal/failpoint/fptest"
)

// Kill tests (make failpoints runs them under -race, 100 times each): a child dies at a
// failpoint inside the arena's critical sections, and this process, the survivor, must
// find the arena whole: its own blocks untouched, a walk that agrees with the header,
// no block handed out twice, and every block without a reference back on a free list.

func init() {
	fpChildren = map[string]func(*Arena){"fp-churn": fpChurn, "fp-solo": fpSolo}
	fpChildMain = runFPChild
}

var fpChildren map[string]func(*Arena)

// fpSizes cover the small classes and the page-aligned ones that carve a gap below them.
var fpSizes = []int{40, 3000, 70 << 10, 100, 200 << 10, 9000, 500}

// fpChurn allocates, fills and frees blocks of every kind until a failpoint kills it.
func fpChurn(a *Arena) {
	var mine []int64
	for i := 0; i < 100000; i++ {
		off, err := a.Alloc(fpSizes[i%len(fpSizes)])
		if err != nil {
			fmt.Fprintln(os.Stderr, "alloc:", err)
			os.Exit(1)
		}
		b, _ := a.Bytes(off)
		copy(b, pattern(byte(i)))
		if mine = append(mine, off); len(mine) > 5 {
			if _, err := a.Release(mine[0]); err != nil {
				fmt.Fprintln(os.Stderr, "release:", err)
				os.Exit(1)
			}
			mine = mine[1:]
		}
	}
	fmt.Fprintln(os.Stderr, "the failpoint never fired")
	os.Exit(1)
}

// fpSolo allocates and frees one block at a time: each Release empties, so resets, the
// arena (the parent holds nothing).
func fpSolo(a *Arena) {
	for i := 0; i < 100000; i++ {
		off, err := a.Alloc(fpSizes[i%len(fpSizes)])
		if err == nil {
			_, err = a.Release(off)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Fprintln(os.Stderr, "the failpoint never fired")
	os.Exit(1)
}

func TestFailpointArenaKilled(t *testing.T) {
	cases := []struct{ point, child string }{
		{"arena/take", "fp-churn"},
		{"arena/carve", "fp-churn"},
		{"arena/allocated", "fp-churn"},
		{"arena/release", "fp-churn"},
		{"arena/free-locked", "fp-churn"},
		{"arena/reset", "fp-solo"},
	}
	for _, c := range cases {
		t.Run(c.point, func(t *testing.T) {
			a := newArena(t)
			type held struct {
				off  int64
				seed byte
			}
			var mine []held
			if c.child == "fp-churn" {
				for i := 0; i < 5; i++ {
					off, b := alloc(t, a, fpSizes[i])
					copy(b, pattern(byte(100+i)))
					mine = append(mine, held{off, byte(100 + i)})
				}
			}
			at := 7
			if c.point == "arena/carve" {
				at = 2 // blocks come off the free lists once the churn has cycled
			}
			runFailpointChild(t, a, c.child, fmt.Sprintf("%s=kill@%d", c.point, at))
			walk(t, a) // takes the dead child's lock over, if it held it
			for i := 0; i < 300; i++ {
				off, b := alloc(t, a, fpSizes[i%len(fpSizes)])
				seed := byte(i)
				copy(b, pattern(seed))
				mine = append(mine, held{off, seed})
			}
			// No block went to two owners: every pattern is still whole.
			for _, h := range mine {
				b, err := a.Bytes(h.off)
				if err != nil {
					t.Fatal(err)
				}
				p := pattern(h.seed)
				if n := min(len(b), len(p)); !bytes.Equal(b[:n], p[:n]) {
					t.Fatalf("block at %d was overwritten: handed out twice", h.off)
				}
			}
			walk(t, a)
			for _, h := range mine {
				if _, err := a.Release(h.off); err != nil {
					t.Fatal(err)
				}
			}
			// What is left is what the dead child still holds a reference to.
			blocks, _ := walk(t, a)
			left := 0
			for _, b := range blocks {
				if !b.Free {
					left++
					if b.Refs <= 0 {
						t.Fatalf("block at %d is neither free nor referenced: leaked", b.Offset)
					}
				}
			}
			if left > 6 {
				t.Fatalf("%d blocks left referenced; the child held at most 6", left)
			}
		})
	}
}

// runFailpointChild runs scenario in a child sharing a, with spec armed, and checks the
// failpoint killed it.
func runFailpointChild(t *testing.T, a *Arena, scenario, spec string) {
	t.Helper()
	err := fptest.Command(t, a.Fd(), spec, fpChildEnv+"="+scenario).Run()
	fptest.MustBeKilled(t, err, "child "+scenario+" with "+spec)
}

const fpChildEnv = "ARENA_FP_CHILD"

// runFPChild runs a failpoint child when this binary was started as one.
func runFPChild() {
	name := os.Getenv(fpChildEnv)
	if name == "" {
		return
	}
	a, err := Open(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fpChildren[name](a)
}
