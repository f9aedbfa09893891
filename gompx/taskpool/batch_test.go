package taskpool

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/pickle"
)

// resultJob makes a job of len(results) tasks whose results are recorded as they
// would come in, in that order: a pool without workers, results through Job.Fail.
func resultJob(t *testing.T, length int, results []given) *Job {
	t.Helper()
	q, err := gompx.NewQueue(gompx.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Results: q, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate(); p.Free(); q.Close() })
	j, err := p.NewJob(nil, length, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		payload, err := pickle.MarshalProtocol(r.value, 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Fail(r.index, r.status, payload); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// given is a result a test records: task index, status, the value pickled.
type given struct {
	index  int
	status Status
	value  any
}

func TestTakeInto(t *testing.T) {
	many := func(n int) []given {
		out := make([]given, n)
		for i := range out {
			out[i] = given{n - 1 - i, StatusOK, int64(n - 1 - i)} // in reverse: ordered must sort
		}
		return out
	}
	tests := []struct {
		name    string
		length  int
		results []given
		mode    TakeMode
		bufSize int
		err     error
		want    []int // indexes taken, in order
		joined  bool
		need    bool
	}{
		{"outcome is the first failure", 3, []given{{0, StatusOK, int64(0)}, {2, StatusError, "late"},
			{1, StatusError, "boom"}}, TakeOutcome, 1024, nil, []int{2}, false, false},
		{"outcome unfinished", 3, []given{{0, StatusOK, int64(0)}}, TakeOutcome, 1024, ErrTimeout, nil, false, false},
		{"outcome of many is joined", 10, many(10), TakeOutcome, 1024, nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, true, false},
		{"few are not joined", 3, many(3), TakeOrdered, 1024, nil, []int{0, 1, 2}, false, false},
		{"unordered as they came", 3, many(3), TakeUnordered, 1024, nil, []int{2, 1, 0}, false, false},
		{"ordered stops at a gap", 3, many(3)[:2], TakeOrdered, 1024, ErrTimeout, nil, false, false},
		{"the next needs room", 1, many(1), TakeOrdered, 2, nil, nil, false, true},
		{"ordered OK stops before a failure", 4, []given{{0, StatusOK, int64(0)}, {2, StatusOK, int64(2)},
			{1, StatusError, "boom"}}, TakeOrderedOK, 1024, nil, []int{0}, false, false},
		{"ordered OK at a failure takes none", 2, []given{{0, StatusError, "boom"}}, TakeOrderedOK, 1024,
			nil, nil, false, false},
		{"ordered OK takes every success", 3, many(3), TakeOrderedOK, 1024, nil, []int{0, 1, 2}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := resultJob(t, tt.length, tt.results)
			buf, table := make([]byte, tt.bufSize), make([]byte, EntrySize*16)
			b, err := j.TakeInto(tt.mode, 0, buf, table)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if b.Need > 0 != tt.need || b.Joined != tt.joined || b.Count != len(tt.want) {
				t.Fatalf("got %+v, want %d results (joined %v, need %v)", b, len(tt.want), tt.joined, tt.need)
			}
			var values []any
			used := 0
			for i, index := range tt.want {
				got := int(binary.LittleEndian.Uint64(table[EntrySize*i:]) >> 8)
				if got != index {
					t.Fatalf("entry %d names task %d, want %d", i, got, index)
				}
				if !tt.joined {
					n := int(binary.LittleEndian.Uint64(table[EntrySize*i+8:]))
					v, err := pickle.Unmarshal(buf[used : used+n])
					if err != nil {
						t.Fatal(err)
					}
					values, used = append(values, v), used+n
				}
			}
			if tt.joined {
				n := int(binary.LittleEndian.Uint64(table[8:]))
				v, err := pickle.Unmarshal(buf[:n])
				if err != nil {
					t.Fatal(err)
				}
				values = v.([]any)
			}
			for i, index := range tt.want {
				want := tt.results[0].value
				for _, r := range tt.results {
					if r.index == index {
						want = r.value
					}
				}
				if !reflect.DeepEqual(values[i], want) {
					t.Fatalf("result %d = %#v, want %#v", i, values[i], want)
				}
			}
		})
	}
	t.Run("exhausted", func(t *testing.T) {
		j := resultJob(t, 1, many(1))
		buf, table := make([]byte, 64), make([]byte, EntrySize)
		if b, err := j.TakeInto(TakeOrdered, 0, buf, table); err != nil || b.Count != 1 {
			t.Fatalf("first take: %+v, %v", b, err)
		}
		if _, err := j.TakeInto(TakeOrdered, 0, buf, table); !errors.Is(err, ErrExhausted) {
			t.Fatalf("second take: %v, want ErrExhausted", err)
		}
	})
}

// A map takes its successes in order as they come (TakeOrderedOK), then its outcome: the
// first failure to come in must still be there, whatever was taken before it.
func TestTakeOrderedOKThenOutcome(t *testing.T) {
	j := resultJob(t, 4, []given{{0, StatusOK, int64(0)}, {3, StatusError, "first"},
		{1, StatusOK, int64(1)}, {2, StatusError, "second"}})
	buf, table := make([]byte, 1024), make([]byte, EntrySize*16)
	if b, err := j.TakeInto(TakeOrderedOK, 0, buf, table); err != nil || b.Count != 2 {
		t.Fatalf("ordered OK: %+v, %v; want the two successes", b, err)
	}
	b, err := j.TakeInto(TakeOutcome, 0, buf, table)
	if err != nil || b.Count != 1 {
		t.Fatalf("outcome: %+v, %v", b, err)
	}
	if index := binary.LittleEndian.Uint64(table) >> 8; index != 3 {
		t.Fatalf("outcome is task %d's, want 3's (the first failure to come in)", index)
	}
	n := int(binary.LittleEndian.Uint64(table[8:]))
	if v, err := pickle.Unmarshal(buf[:n]); err != nil || v != "first" {
		t.Fatalf("outcome payload %v, %v", v, err)
	}
}
