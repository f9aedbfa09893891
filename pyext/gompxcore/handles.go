package gompxcore

import (
	"sync"
)

// handles names Go objects held on behalf of Python. Handles are never reused, so a
// stale handle fails cleanly instead of reaching another object.
type handleTable struct {
	mu   sync.RWMutex
	next int64
	objs map[int64]any
}

var handles = handleTable{next: 1, objs: make(map[int64]any)}

func (t *handleTable) put(obj any) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.next
	t.next++
	t.objs[h] = obj
	return h
}

func (t *handleTable) drop(h int64) {
	t.mu.Lock()
	delete(t.objs, h)
	t.mu.Unlock()
}

// get returns the object behind h as a T, or an OSError(EBADF) the way CPython reports
// a closed handle.
func get[T any](h int64) (T, error) {
	handles.mu.RLock()
	obj, ok := handles.objs[h]
	handles.mu.RUnlock()
	v, isT := obj.(T)
	if !ok || !isT {
		var zero T
		return zero, &pyError{kind: ErrKindOSError, msg: "handle is closed"}
	}
	return v, nil
}

// with is the preamble of an exported function that acts on one handle: it looks up
// the object behind h as a T (a closed or foreign handle is OSError("handle is
// closed")), runs f on it, and turns a panic in either into an error, since a Go panic
// would abort the interpreter.
func with[T, R any](h int64, f func(T) (R, error)) (r R, err error) {
	return call(h, false, r, f)
}

// withOr is with for calls that are harmless on a closed handle (closing twice): there
// they return closed and no error.
func withOr[T, R any](h int64, closed R, f func(T) (R, error)) (R, error) {
	return call(h, true, closed, f)
}

func call[T, R any](h int64, harmless bool, closed R, f func(T) (R, error)) (r R, err error) {
	defer recoverInto(&err)
	v, err := get[T](h)
	if err != nil {
		if harmless {
			return closed, nil
		}
		return r, err
	}
	r, err = f(v)
	return r, translate(err)
}

// put is the end of an exported function that makes an object: its handle, or err as
// the Python exception it names.
func put[T any](obj T, err error) (int64, error) {
	if err != nil {
		return 0, translate(err)
	}
	return handles.put(obj), nil
}

// do runs a method that returns nothing on the object behind h.
func do[T any](h int64, method func(T)) (bool, error) {
	return with(h, func(v T) (bool, error) { method(v); return true, nil })
}

// read returns what a method that cannot fail returns on the object behind h.
func read[T, R any](h int64, method func(T) R) (R, error) {
	return with(h, func(v T) (R, error) { return method(v), nil })
}

// try runs a method that returns only an error on the object behind h.
func try[T any](h int64, method func(T) error) (bool, error) {
	return with(h, func(v T) (bool, error) { return true, method(v) })
}
