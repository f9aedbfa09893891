/*
 * gompx._gompxsync: the uncontended paths of gompx's locks and semaphores.
 *
 * Why C and not the Go core: a call into the gopy-built extension costs about 0.3 us,
 * while the stdlib's Lock.acquire + release costs about 37 ns here, so a lock that went
 * through Go on every call would be ten times slower than the one it replaces.  This
 * module does only what needs no waiting: one compare-and-swap to take a free lock or a
 * semaphore unit, one to give it back, and a futex wake when someone sleeps.  Everything
 * that waits (spinning, futex sleeps in slices, taking a lock over from a dead owner)
 * happens in Go, called through the `slow` callable given to SemLock.
 *
 * The words are those of gompx/internal/psync (see its doc.go), at the start of a 64-byte
 * block in a shared arena:
 *   mutex:      +0 state (0 free, else owner pid | WAITERS), +4 owner pid, +8 owner start
 *   semaphore:  +0 value, +4 waiters, +8 bound (0: none; this object keeps its own bound,
 *               so that a BoundedSemaphore(0) refuses every release as CPython's does)
 *
 * The object mirrors CPython's _multiprocessing.SemLock: kind, maxvalue, a per-process
 * count of this thread's acquisitions, and the identity of the last acquiring thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "gompxqueue.h"
#include "gompxfailpoint.h"

#define KIND_RECURSIVE 0 /* RLock: owned by a thread, reentrant */
#define KIND_SEMAPHORE 1 /* Semaphore, BoundedSemaphore */
#define KIND_LOCK 2      /* Lock: owned by a process, released by anyone */

#define WAITERS_BIT 0x80000000u

/* Results of the slow callable (gompxcore.SyncAcquire: SyncTimedOut, SyncAcquired,
 * SyncTookOver; tests/test_contract.py checks they agree). */
#define SLOW_TIMED_OUT 0
#define SLOW_ACQUIRED 1
#define SLOW_TOOK_OVER 2

/* The first words of a psync block, as gompx/internal/psync/words.go lays them out;
 * tests/test_contract.py checks these offsets against Go's (module constant LAYOUT). */
struct lockwords {
    uint32_t word; /* mutex: state (0 free, else owner pid | WAITERS_BIT); semaphore: value */
    uint32_t aux;  /* mutex: owner pid; semaphore: waiters */
    union {
        uint64_t owner_start; /* mutex: the owner's start time */
        uint32_t bound;       /* semaphore: 0 unbounded (this object keeps its own) */
    } u;
};

typedef struct {
    PyObject_HEAD
    Py_buffer view;        /* the block's memory; keeps the arena mapping alive */
    uint32_t *word;        /* state (mutex) or value (semaphore) */
    uint32_t *aux;         /* owner pid (mutex) or waiters (semaphore) */
    uint64_t *owner_start; /* mutex only */
    int kind;
    uint32_t maxvalue; /* release refuses to count past it: SEM_VALUE_MAX when unbounded */
    uint32_t pid;
    uint64_t start;
    long count;                 /* this process's acquisitions not yet released */
    unsigned long last_tid;     /* the thread that acquired last */
    PyObject *slow;             /* slow(ms) -> int: waits in Go */
    PyObject *owner_died;       /* warning category for a lock taken from the dead */
    PyObject *handle;           /* opaque, for Python: the Go handle */
} SemLock;

static int
futex_wake(uint32_t *addr, int n)
{
    return (int)syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

static inline int
cas(uint32_t *addr, uint32_t expected, uint32_t desired)
{
    return __atomic_compare_exchange_n(addr, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

static inline uint32_t
load(uint32_t *addr)
{
    return __atomic_load_n(addr, __ATOMIC_SEQ_CST);
}

static int
try_acquire(SemLock *self)
{
    if (self->kind == KIND_SEMAPHORE) {
        for (;;) {
            uint32_t v = load(self->word);
            if (v == 0)
                return 0;
            if (cas(self->word, v, v - 1))
                return 1;
        }
    }
    if (!cas(self->word, 0, self->pid))
        return 0;
    FAILPOINT(FP_CSYNC_LOCK_CLAIMED);
    /* Release order is enough: a waiter reads these only to tell a dead owner from a
     * live one, and a sequentially consistent store would cost a full fence each. */
    __atomic_store_n(self->owner_start, self->start, __ATOMIC_RELEASE);
    __atomic_store_n(self->aux, self->pid, __ATOMIC_RELEASE);
    FAILPOINT(FP_CSYNC_LOCK_HELD);
    return 1;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A lock held by another process for a short critical section (a shared value's
 * update) is usually free again within a microsecond or two: polling that long here
 * costs less than the call into Go (~1 us with its Python frames), which spins longer
 * and then sleeps.  The GIL stays held, so the poll is kept short. */
#define SPIN_POLLS 256

static int
spin_acquire(SemLock *self)
{
    for (int i = 0; i < SPIN_POLLS; i++) {
        cpu_relax();
        uint32_t v = load(self->word);
        int free = self->kind == KIND_SEMAPHORE ? v != 0 : v == 0;
        if (free && try_acquire(self))
            return 1;
    }
    return 0;
}

static double
monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static PyObject *release_impl(SemLock *self);

/* got records an acquisition; took_over_from is the dead owner's pid (-1: none). */
static PyObject *
got(SemLock *self, unsigned long tid, long took_over_from)
{
    ++self->count;
    self->last_tid = tid;
    if (took_over_from >= 0) {
        int failed;
        if (took_over_from > 0)
            failed = PyErr_WarnFormat(self->owner_died, 1,
                "acquired a lock whose owner, process %ld, died holding it: what it "
                "guards may be half-updated", took_over_from);
        else
            failed = PyErr_WarnEx(self->owner_died,
                "acquired a lock whose owner died holding it: what it guards may be "
                "half-updated", 1);
        if (failed) {
            /* The warning became an exception: the caller does not get the lock. */
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyObject *r = release_impl(self);
            Py_XDECREF(r);
            PyErr_Restore(type, value, tb);
            return NULL;
        }
    }
    Py_RETURN_TRUE;
}

/* Wait in Go for the whole time left (-1: no limit). On the main thread a signal ends
 * the core's futex sleep early (EINTR; gompx.EnableInterrupts), reported as a timeout:
 * the signal handlers run here (Ctrl-C raises KeyboardInterrupt), then the wait goes on
 * for what is left. */
static PyObject *
acquire_slow(SemLock *self, unsigned long tid, double timeout_ms)
{
    double deadline = timeout_ms < 0 ? 0 : monotonic_ms() + timeout_ms;
    for (;;) {
        long step = -1;
        if (timeout_ms >= 0) {
            double left = deadline - monotonic_ms();
            if (left < 0)
                left = 0;
            step = (long)(left + 0.999);
        }
        PyObject *r = PyObject_CallFunction(self->slow, "l", step);
        if (r == NULL)
            return NULL;
        long code = PyLong_AsLong(r);
        Py_DECREF(r);
        if (code == -1 && PyErr_Occurred())
            return NULL;
        if ((code & 3) == SLOW_ACQUIRED)
            return got(self, tid, -1);
        if ((code & 3) == SLOW_TOOK_OVER)
            return got(self, tid, code >> 2);
        if (PyErr_CheckSignals() < 0)
            return NULL;
        if (timeout_ms >= 0 && monotonic_ms() >= deadline)
            Py_RETURN_FALSE;
    }
}

static PyObject *
acquire_impl(SemLock *self, int blocking, PyObject *timeout)
{
    unsigned long tid = PyThread_get_thread_ident();
    if (self->kind == KIND_RECURSIVE && self->count > 0 && self->last_tid == tid) {
        ++self->count;
        Py_RETURN_TRUE;
    }
    /* As CPython: a blocking call checks its timeout even when the lock is free. */
    double ms = -1;
    if (blocking && timeout != NULL && timeout != Py_None) {
        double t = PyFloat_AsDouble(timeout);
        if (t == -1 && PyErr_Occurred())
            return NULL;
        ms = t < 0 ? 0 : t * 1000;
    }
    if (try_acquire(self))
        return got(self, tid, -1);
    if (!blocking)
        Py_RETURN_FALSE;
    if (ms != 0 && spin_acquire(self))
        return got(self, tid, -1);
    return acquire_slow(self, tid, ms);
}

/* acquire(block=True, timeout=None), parsed by hand: the common call has no arguments. */
static PyObject *
SemLock_acquire(SemLock *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *block = NULL, *timeout = NULL;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "acquire() takes at most 2 arguments");
        return NULL;
    }
    if (nargs > 0)
        block = args[0];
    if (nargs > 1)
        timeout = args[1];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot;
        if (PyUnicode_CompareWithASCIIString(name, "block") == 0)
            slot = &block;
        else if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0)
            slot = &timeout;
        else {
            PyErr_Format(PyExc_TypeError, "acquire() got an unexpected keyword argument '%U'",
                         name);
            return NULL;
        }
        if (*slot != NULL) {
            PyErr_Format(PyExc_TypeError, "acquire() got multiple values for argument '%U'",
                         name);
            return NULL;
        }
        *slot = args[nargs + i];
    }
    int blocking = 1;
    if (block != NULL && (blocking = PyObject_IsTrue(block)) < 0)
        return NULL;
    return acquire_impl(self, blocking, timeout);
}

static PyObject *
release_impl(SemLock *self)
{
    if (self->kind == KIND_RECURSIVE) {
        if (self->count == 0 || self->last_tid != PyThread_get_thread_ident()) {
            PyErr_SetString(PyExc_AssertionError,
                            "attempt to release recursive lock not owned by thread");
            return NULL;
        }
        if (self->count > 1) {
            --self->count;
            Py_RETURN_NONE;
        }
    }
    if (self->kind == KIND_SEMAPHORE) {
        for (;;) {
            uint32_t v = load(self->word);
            if (v >= self->maxvalue) {
                PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
                return NULL;
            }
            if (cas(self->word, v, v + 1))
                break;
        }
        if (load(self->aux) != 0)
            futex_wake(self->word, 1);
    } else {
        for (;;) {
            uint32_t s = load(self->word);
            if (s == 0) {
                PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
                return NULL;
            }
            if (cas(self->word, s, 0)) {
                if (s & WAITERS_BIT)
                    futex_wake(self->word, 1);
                break;
            }
        }
    }
    if (self->count > 0)
        --self->count;
    Py_RETURN_NONE;
}

static PyObject *
SemLock_release(SemLock *self, PyObject *unused)
{
    return release_impl(self);
}

static PyObject *
SemLock_enter(SemLock *self, PyObject *unused)
{
    return acquire_impl(self, 1, NULL);
}

static PyObject *
SemLock_exit(SemLock *self, PyObject *const *args, Py_ssize_t nargs)
{
    return release_impl(self);
}

static PyObject *
SemLock_count(SemLock *self, PyObject *unused)
{
    return PyLong_FromLong(self->count);
}

static PyObject *
SemLock_is_mine(SemLock *self, PyObject *unused)
{
    return PyBool_FromLong(self->count > 0 && self->last_tid == PyThread_get_thread_ident());
}

/* The value a semaphore would report: free units, or 1/0 for a free/held lock. */
static PyObject *
SemLock_get_value(SemLock *self, PyObject *unused)
{
    uint32_t v = load(self->word);
    if (self->kind == KIND_SEMAPHORE)
        return PyLong_FromUnsignedLong(v);
    return PyLong_FromLong(v == 0);
}

static PyObject *
SemLock_is_zero(SemLock *self, PyObject *unused)
{
    uint32_t v = load(self->word);
    return PyBool_FromLong(self->kind == KIND_SEMAPHORE ? v == 0 : v != 0);
}

/* The pid holding a Lock or RLock, 0 when free (for repr and diagnostics). */
static PyObject *
SemLock_owner(SemLock *self, PyObject *unused)
{
    if (self->kind == KIND_SEMAPHORE)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(load(self->word) & ~WAITERS_BIT);
}

/* SemLock(block, kind, maxvalue, pid, start, slow, owner_died_warning, handle).
 * gompx.synchronize's classes subclass this type, so that acquire, release, __enter__
 * and __exit__ are C calls with no Python frame in between; they call this __init__
 * themselves, from __init__ or from __setstate__ once the block is known. */
static int
SemLock_init(SemLock *self, PyObject *args, PyObject *kwds)
{
    PyObject *block, *slow, *warning, *handle;
    int kind;
    unsigned long maxvalue, pid;
    unsigned long long start;
    if (self->view.obj != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SemLock already initialized");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OikkKOOO:SemLock", &block, &kind, &maxvalue, &pid, &start,
                          &slow, &warning, &handle))
        return -1;
    if (kind != KIND_RECURSIVE && kind != KIND_SEMAPHORE && kind != KIND_LOCK) {
        PyErr_Format(PyExc_ValueError, "unknown SemLock kind %d", kind);
        return -1;
    }
    if (!PyCallable_Check(slow) || !PyType_Check(warning) ||
        !PyObject_IsSubclass(warning, PyExc_Warning)) {
        PyErr_SetString(PyExc_TypeError, "slow must be callable, warning a Warning class");
        return -1;
    }
    if (PyObject_GetBuffer(block, &self->view, PyBUF_WRITABLE) < 0)
        return -1;
    if (self->view.len < (Py_ssize_t)sizeof(struct lockwords) || ((uintptr_t)self->view.buf & 7) != 0) {
        PyBuffer_Release(&self->view);
        PyErr_SetString(PyExc_ValueError, "SemLock needs 16 writable, 8-aligned bytes");
        return -1;
    }
    struct lockwords *words = self->view.buf;
    self->word = &words->word;
    self->aux = &words->aux;
    self->owner_start = &words->u.owner_start;
    self->kind = kind;
    self->maxvalue = (uint32_t)maxvalue;
    self->pid = (uint32_t)pid;
    self->start = start;
    Py_INCREF(slow);
    self->slow = slow;
    Py_INCREF(warning);
    self->owner_died = warning;
    Py_INCREF(handle);
    self->handle = handle;
    return 0;
}

static void
SemLock_dealloc(SemLock *self)
{
    if (self->view.obj != NULL)
        PyBuffer_Release(&self->view);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->owner_died);
    Py_CLEAR(self->handle);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
SemLock_get_kind(SemLock *self, void *closure)
{
    return PyLong_FromLong(self->kind);
}

static PyObject *
SemLock_get_maxvalue(SemLock *self, void *closure)
{
    return PyLong_FromUnsignedLong(self->maxvalue);
}

static PyObject *
SemLock_get_handle(SemLock *self, void *closure)
{
    Py_INCREF(self->handle);
    return self->handle;
}

static PyMethodDef SemLock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))SemLock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None) -> bool"},
    {"release", (PyCFunction)SemLock_release, METH_NOARGS, "release()"},
    {"__enter__", (PyCFunction)SemLock_enter, METH_NOARGS, "acquire()"},
    {"__exit__", (PyCFunction)(void (*)(void))SemLock_exit, METH_FASTCALL, "release()"},
    {"_count", (PyCFunction)SemLock_count, METH_NOARGS, "this process's acquisitions"},
    {"_is_mine", (PyCFunction)SemLock_is_mine, METH_NOARGS, "held by this thread?"},
    {"_get_value", (PyCFunction)SemLock_get_value, METH_NOARGS, "the semaphore's value"},
    {"_is_zero", (PyCFunction)SemLock_is_zero, METH_NOARGS, "value == 0?"},
    {"_owner", (PyCFunction)SemLock_owner, METH_NOARGS, "pid holding the lock, 0: free"},
    {NULL}};

static PyGetSetDef SemLock_getset[] = {
    {"kind", (getter)SemLock_get_kind, NULL, NULL, NULL},
    {"maxvalue", (getter)SemLock_get_maxvalue, NULL, NULL, NULL},
    {"handle", (getter)SemLock_get_handle, NULL, NULL, NULL},
    {NULL}};

static PyTypeObject SemLockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gompx._gompxsync.SemLock",
    .tp_basicsize = sizeof(SemLock),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The shared words of a gompx Lock, RLock or Semaphore (see the module doc).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SemLock_init,
    .tp_dealloc = (destructor)SemLock_dealloc,
    .tp_methods = SemLock_methods,
    .tp_getset = SemLock_getset,
};

/*
 * SyncValue: the `value` attribute of sharedctypes.Synchronized, in C.
 *
 * `with v.get_lock(): v.value += 1` is, through Python properties, two Python frames
 * that each call acquire, ctypes' getter or setter and release: ~0.4 us of holding the
 * lock, which is what two processes contending for it wait on.  Here the same steps
 * are one C call: take the lock through the SemLock fast path above (an RLock the
 * thread holds is a count increment), read or write the number in place, release.
 * The number's address and type come from the ctypes object's own buffer (its format
 * and size), so that C never assumes a layout of its own.  Anything else (another kind
 * of lock, a type or a value this code does not convert exactly as ctypes does) takes
 * the generic path: acquire(), getattr/setattr on the ctypes object, release().
 */

enum { VK_NONE, VK_I8, VK_U8, VK_I16, VK_U16, VK_I32, VK_U32, VK_I64, VK_U64, VK_F32, VK_F64 };

typedef struct {
    PyObject_HEAD
    PyObject *obj;   /* the ctypes object */
    PyObject *lock;  /* whatever lock the wrapper holds */
    SemLock *fast;   /* lock, when it is a SemLock: its C paths are called directly */
    Py_buffer view;  /* obj's memory, when vkind != VK_NONE */
    int vkind;
} SyncValue;

/* The kind of number a ctypes buffer holds, from its struct-module format and size. */
static int
value_kind(const char *format, Py_ssize_t size)
{
    if (format == NULL)
        return VK_NONE;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const char native = '<';
#else
    const char native = '>';
#endif
    if (*format == native || *format == '=' || *format == '@')
        format++;
    if (format[0] == 0 || format[1] != 0)
        return VK_NONE;
    switch (format[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q':
        return size == 1 ? VK_I8 : size == 2 ? VK_I16 : size == 4 ? VK_I32
             : size == 8 ? VK_I64 : VK_NONE;
    case 'B': case 'H': case 'I': case 'L': case 'Q':
        return size == 1 ? VK_U8 : size == 2 ? VK_U16 : size == 4 ? VK_U32
             : size == 8 ? VK_U64 : VK_NONE;
    case 'f':
        return size == 4 ? VK_F32 : VK_NONE;
    case 'd':
        return size == 8 ? VK_F64 : VK_NONE;
    }
    return VK_NONE;
}

static PyObject *
value_read(SyncValue *self)
{
    void *p = self->view.buf;
    switch (self->vkind) {
    case VK_I8: return PyLong_FromLong(*(int8_t *)p);
    case VK_U8: return PyLong_FromLong(*(uint8_t *)p);
    case VK_I16: return PyLong_FromLong(*(int16_t *)p);
    case VK_U16: return PyLong_FromLong(*(uint16_t *)p);
    case VK_I32: return PyLong_FromLong(*(int32_t *)p);
    case VK_U32: return PyLong_FromUnsignedLong(*(uint32_t *)p);
    case VK_I64: return PyLong_FromLongLong(*(int64_t *)p);
    case VK_U64: return PyLong_FromUnsignedLongLong(*(uint64_t *)p);
    case VK_F32: return PyFloat_FromDouble(*(float *)p);
    case VK_F64: return PyFloat_FromDouble(*(double *)p);
    }
    return PyObject_GetAttrString(self->obj, "value");
}

/* Store v in place when it is an exact int or float that the type holds as it is;
 * 0: stored, 1: not this path's to convert (ctypes does it: its truncation, its errors). */
static int
value_store(SyncValue *self, PyObject *v)
{
    void *p = self->view.buf;
    if (self->vkind == VK_F64 || self->vkind == VK_F32) {
        double d;
        if (PyFloat_CheckExact(v))
            d = PyFloat_AS_DOUBLE(v);
        else
            return 1;
        if (self->vkind == VK_F64)
            *(double *)p = d;
        else
            *(float *)p = (float)d;
        return 0;
    }
    if (!PyLong_CheckExact(v))
        return 1;
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 1;
    }
    switch (self->vkind) {
    case VK_I8: if (x < INT8_MIN || x > INT8_MAX) return 1; *(int8_t *)p = (int8_t)x; return 0;
    case VK_U8: if (x < 0 || x > UINT8_MAX) return 1; *(uint8_t *)p = (uint8_t)x; return 0;
    case VK_I16: if (x < INT16_MIN || x > INT16_MAX) return 1; *(int16_t *)p = (int16_t)x; return 0;
    case VK_U16: if (x < 0 || x > UINT16_MAX) return 1; *(uint16_t *)p = (uint16_t)x; return 0;
    case VK_I32: if (x < INT32_MIN || x > INT32_MAX) return 1; *(int32_t *)p = (int32_t)x; return 0;
    case VK_U32: if (x < 0 || x > UINT32_MAX) return 1; *(uint32_t *)p = (uint32_t)x; return 0;
    case VK_I64: *(int64_t *)p = (int64_t)x; return 0;
    case VK_U64: if (x < 0) return 1; *(uint64_t *)p = (uint64_t)x; return 0;
    }
    return 1;
}

static int
value_lock(SyncValue *self)
{
    PyObject *r = self->fast ? acquire_impl(self->fast, 1, NULL)
                             : PyObject_CallMethod(self->lock, "acquire", NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int
value_unlock(SyncValue *self)
{
    PyObject *r = self->fast ? release_impl(self->fast)
                             : PyObject_CallMethod(self->lock, "release", NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static PyObject *
SyncValue_get(SyncValue *self, void *closure)
{
    if (self->obj == NULL || self->lock == NULL) {
        PyErr_SetString(PyExc_AttributeError, "value");
        return NULL;
    }
    if (value_lock(self) < 0)
        return NULL;
    PyObject *r = value_read(self);
    /* As the Python property's finally: release even when the read failed. */
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    if (value_unlock(self) < 0) {
        Py_XDECREF(r);
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        return NULL;
    }
    PyErr_Restore(type, exc, tb);
    return r;
}

static int
SyncValue_set(SyncValue *self, PyObject *v, void *closure)
{
    if (self->obj == NULL || self->lock == NULL || v == NULL) {
        PyErr_SetString(PyExc_AttributeError, v == NULL ? "can't delete attribute" : "value");
        return -1;
    }
    if (value_lock(self) < 0)
        return -1;
    int failed = 0;
    if (self->vkind == VK_NONE || value_store(self, v) != 0)
        failed = PyObject_SetAttrString(self->obj, "value", v) < 0;
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    if (value_unlock(self) < 0) {
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        return -1;
    }
    PyErr_Restore(type, exc, tb);
    return failed ? -1 : 0;
}

/* _bind_value(obj, lock): what `value` reads and writes, and under which lock. */
static PyObject *
SyncValue_bind(SyncValue *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_bind_value(obj, lock)");
        return NULL;
    }
    if (self->obj != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "SyncValue already bound");
        return NULL;
    }
    PyObject *obj = args[0], *lock = args[1];
    int vkind = VK_NONE;
    if (PyObject_CheckBuffer(obj)) {
        if (PyObject_GetBuffer(obj, &self->view, PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
            PyErr_Clear();
        else {
            vkind = value_kind(self->view.format, self->view.len);
            if (vkind == VK_NONE || ((uintptr_t)self->view.buf % self->view.len) != 0) {
                PyBuffer_Release(&self->view);
                vkind = VK_NONE;
            }
        }
    }
    self->vkind = vkind;
    Py_INCREF(obj);
    self->obj = obj;
    Py_INCREF(lock);
    self->lock = lock;
    if (PyObject_TypeCheck(lock, &SemLockType) && ((SemLock *)lock)->view.obj != NULL) {
        Py_INCREF(lock);
        self->fast = (SemLock *)lock;
    }
    Py_RETURN_NONE;
}

/* Which path `value` takes, for tests: (number kind or 0, lock is a SemLock). */
static PyObject *
SyncValue_fast_path(SyncValue *self, PyObject *unused)
{
    return Py_BuildValue("(iO)", self->vkind, self->fast ? Py_True : Py_False);
}

static void
SyncValue_dealloc(SyncValue *self)
{
    PyObject_GC_UnTrack(self);
    if (self->vkind != VK_NONE)
        PyBuffer_Release(&self->view);
    Py_CLEAR(self->obj);
    Py_CLEAR(self->lock);
    Py_CLEAR(self->fast);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
SyncValue_traverse(SyncValue *self, visitproc visit, void *arg)
{
    Py_VISIT(self->obj);
    Py_VISIT(self->lock);
    Py_VISIT(self->fast);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
SyncValue_clear(SyncValue *self)
{
    Py_CLEAR(self->lock);
    Py_CLEAR(self->fast);
    return 0;
}

static PyMethodDef SyncValue_methods[] = {
    {"_bind_value", (PyCFunction)(void (*)(void))SyncValue_bind, METH_FASTCALL,
     "_bind_value(obj, lock): bind the ctypes object and its lock"},
    {"_value_fast_path", (PyCFunction)SyncValue_fast_path, METH_NOARGS,
     "(number kind or 0, lock is a SemLock)"},
    {NULL}};

static PyGetSetDef SyncValue_getset[] = {
    {"value", (getter)SyncValue_get, (setter)SyncValue_set,
     "the shared number, read and written under the lock", NULL},
    {NULL}};

static PyTypeObject SyncValueType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gompx._gompxsync.SyncValue",
    .tp_basicsize = sizeof(SyncValue),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The `value` of a synchronized shared ctypes number (see above).",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)SyncValue_dealloc,
    .tp_traverse = (traverseproc)SyncValue_traverse,
    .tp_clear = (inquiry)SyncValue_clear,
    .tp_methods = SyncValue_methods,
    .tp_getset = SyncValue_getset,
};


#ifdef GOMPX_FAILPOINTS
/* The C points, named as gompx/internal/failpoint.Points names them. */
static const char *const fp_names[FP_COUNT] = {
    [FP_CQUEUE_ADMIT_CLAIMED] = "cqueue/admit-claimed",
    [FP_CQUEUE_PUT_WRITTEN] = "cqueue/put-written",
    [FP_CQUEUE_PUT_PUBLISHED] = "cqueue/put-published",
    [FP_CQUEUE_GET_READ] = "cqueue/get-read",
    [FP_CQUEUE_GET_JOURNALED] = "cqueue/get-journaled",
    [FP_CSYNC_LOCK_CLAIMED] = "csync/lock-claimed",
    [FP_CSYNC_LOCK_HELD] = "csync/lock-held",
};

enum { FP_OFF, FP_KILL, FP_STALL };
static struct {
    int kind;
    long at, hits;
} fp_armed[FP_COUNT];

/* As failpoint.Inject: the action on the Nth hit.  The GIL is held: hits are counted
 * without atomics, and a stall stalls every Python thread of the process. */
void
gompx_fp_hit(int point)
{
    if (fp_armed[point].kind == FP_OFF || ++fp_armed[point].hits != fp_armed[point].at)
        return;
    if (fp_armed[point].kind == FP_KILL)
        kill(getpid(), SIGKILL);
    for (;;)
        pause(); /* the signal is on its way, or a stall: nothing past here may run */
}

/* _fp_arm(name, "kill@N" | "stall@N"): what the Go core parsed from GOMPX_FAILPOINTS. */
static PyObject *
fp_arm(PyObject *module, PyObject *args)
{
    const char *name, *action;
    if (!PyArg_ParseTuple(args, "ss:_fp_arm", &name, &action))
        return NULL;
    for (int i = 0; i < FP_COUNT; i++) {
        if (strcmp(name, fp_names[i]) != 0)
            continue;
        long at;
        char kind[8];
        if (sscanf(action, "%7[a-z]@%ld", kind, &at) != 2 || at < 1 ||
            (strcmp(kind, "kill") != 0 && strcmp(kind, "stall") != 0)) {
            PyErr_Format(PyExc_ValueError, "gompx: failpoint %s: %s is not kill@N or stall@N",
                         name, action);
            return NULL;
        }
        fp_armed[i].kind = strcmp(kind, "kill") == 0 ? FP_KILL : FP_STALL;
        fp_armed[i].at = at;
        fp_armed[i].hits = 0;
        Py_RETURN_NONE;
    }
    PyErr_Format(PyExc_ValueError, "gompx: %s is not a failpoint of the C fast paths", name);
    return NULL;
}

static PyMethodDef fp_functions[] = {
    {"_fp_arm", fp_arm, METH_VARARGS, "_fp_arm(name, action): arm a C failpoint"},
    {NULL}};
#endif

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gompx._gompxsync",
    "Fast paths of gompx's process-shared locks; the waiting is done by the Go core.", -1,
    NULL};

PyMODINIT_FUNC
PyInit__gompxsync(void)
{
    if (PyType_Ready(&SemLockType) < 0 || PyType_Ready(&SyncValueType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    PyObject *layout = Py_BuildValue(
        "{s:n,s:n,s:n,s:n,s:n,s:k,s:i,s:i,s:i}",
        "word", (Py_ssize_t)offsetof(struct lockwords, word),
        "aux", (Py_ssize_t)offsetof(struct lockwords, aux),
        "owner_start", (Py_ssize_t)offsetof(struct lockwords, u.owner_start),
        "bound", (Py_ssize_t)offsetof(struct lockwords, u.bound),
        "size", (Py_ssize_t)sizeof(struct lockwords),
        "WAITERS_BIT", (unsigned long)WAITERS_BIT,
        "SLOW_TIMED_OUT", SLOW_TIMED_OUT, "SLOW_ACQUIRED", SLOW_ACQUIRED,
        "SLOW_TOOK_OVER", SLOW_TOOK_OVER);
    if (layout == NULL || PyModule_AddObject(m, "LAYOUT", layout) < 0) {
        Py_XDECREF(layout);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&SemLockType);
    if (PyModule_AddObject(m, "SemLock", (PyObject *)&SemLockType) < 0 ||
        PyModule_AddIntConstant(m, "RECURSIVE_MUTEX", KIND_RECURSIVE) < 0 ||
        PyModule_AddIntConstant(m, "SEMAPHORE", KIND_SEMAPHORE) < 0 ||
        PyModule_AddIntConstant(m, "LOCK", KIND_LOCK) < 0 || gompx_queue_register(m) < 0
#ifdef GOMPX_FAILPOINTS
        || PyModule_AddFunctions(m, fp_functions) < 0
#endif
    ) {
        Py_DECREF(&SemLockType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&SyncValueType);
    if (PyModule_AddObject(m, "SyncValue", (PyObject *)&SyncValueType) < 0) {
        Py_DECREF(&SyncValueType);
        Py_DECREF(&SemLockType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
