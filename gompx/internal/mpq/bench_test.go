package mpq

import "testing"

func BenchmarkPutGet(b *testing.B) {
	r, err := Create(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	msg := make([]byte, 12)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := r.Put(0, -1, msg); err != nil {
			b.Fatal(err)
		}
		m, err := r.Begin(0)
		if err != nil {
			b.Fatal(err)
		}
		r.Read(buf[:m.Len])
		r.End()
	}
}

func BenchmarkPutBatch1000(b *testing.B) {
	r, err := Create(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = make([]byte, 14)
	}
	buf := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Admit(len(msgs), -1)
		if _, err := r.PutBatchAdmitted(0, -1, msgs); err != nil {
			b.Fatal(err)
		}
		m, err := r.Begin(0)
		for err == nil {
			r.Read(buf[:m.Len])
			var ok bool
			if m, ok = r.Next(); !ok {
				break
			}
		}
		r.End()
	}
}
