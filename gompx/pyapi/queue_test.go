package pyapi

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/pickle"
)

func TestReceiveMany(t *testing.T) {
	pickled := func(v any) []byte {
		b, err := pickle.MarshalProtocol(v, 5)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type msg struct {
		kind gompx.MessageKind
		data []byte
	}
	long := make([]byte, 300)
	tests := []struct {
		name   string
		msgs   []msg
		buf    int
		max    int
		want   Batch
		values []any // with Joined: the list loaded from buf
	}{
		{"pickles are joined", []msg{{gompx.KindPickle, pickled(int64(1))}, {gompx.KindPickle, pickled("two")}},
			256, 8, Batch{Count: 2, Joined: true}, []any{int64(1), "two"}},
		{"bytes are not", []msg{{gompx.KindPickle, pickled(int64(1))}, {gompx.KindBytes, []byte("raw")}},
			256, 8, Batch{Count: 2}, nil},
		{"at most max", []msg{{gompx.KindBytes, []byte("a")}, {gompx.KindBytes, []byte("b")}}, 256, 1,
			Batch{Count: 1}, nil},
		{"what fits", []msg{{gompx.KindBytes, []byte("aaaa")}, {gompx.KindBytes, []byte("bbbb")}}, 6, 8,
			Batch{Count: 1}, nil},
		{"a long first is held", []msg{{gompx.KindBytes, long}}, 16, 8,
			Batch{Held: true, Kind: gompx.KindBytes, Len: len(long)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := gompx.NewQueue(gompx.QueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			for _, m := range tt.msgs {
				if err := q.Send(m.kind, -1, m.data); err != nil {
					t.Fatal(err)
				}
			}
			buf, table := make([]byte, tt.buf), make([]byte, 8*tt.max)
			b, err := ReceiveMany(q, -1, buf, table)
			if err != nil {
				t.Fatal(err)
			}
			if b != tt.want {
				t.Fatalf("got %+v, want %+v", b, tt.want)
			}
			switch {
			case b.Held:
				Reader(q).EndRead() // left in the queue
				if q.Len() != 1 {
					t.Fatalf("the held message left the queue: %d in it", q.Len())
				}
			case b.Joined:
				v, err := pickle.Unmarshal(buf[:binary.LittleEndian.Uint64(table)])
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(v, tt.values) {
					t.Fatalf("joined %#v, want %#v", v, tt.values)
				}
			default:
				at := 0
				for i := 0; i < b.Count; i++ {
					code := binary.LittleEndian.Uint64(table[8*i:])
					m := tt.msgs[i]
					if gompx.MessageKind(code&0xff) != m.kind || string(buf[at:at+int(code>>8)]) != string(m.data) {
						t.Fatalf("message %d: code %#x, bytes %q", i, code, buf[at:at+int(code>>8)])
					}
					at += int(code >> 8)
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		q, err := gompx.NewQueue(gompx.QueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		if _, err := ReceiveMany(q, 0, make([]byte, 8), make([]byte, 8)); !errors.Is(err, gompx.ErrQueueEmpty) {
			t.Fatalf("err = %v, want ErrQueueEmpty", err)
		}
	})
}
