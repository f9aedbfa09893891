/*
 * gompx._gompxsync.QueueCore: the uncontended put and get of gompx's queues, in C.
 *
 * Why C: a call into the gopy-built extension costs ~0.3 us with its argument
 * conversions, about what the whole put or get of a small item may cost to be ten times
 * faster than the stdlib's.  So the common case touches the shared ring from here:
 *
 *   put  of a small message (a plain object pickled, or a bytes object) when the
 *        producer lock is free, the record fits before the ring's end and below its
 *        SoftLimit, and this process holds no messages waiting for room (Backlog);
 *   get  of a message that is already there, in one chunk, when the consumer lock is
 *        free and the commit punches no pages.
 *
 * Anything else (a wait, a timeout, a wake-up to sleep for, a skip record or a wrap, a
 * full ring, a chunked or out-of-band message, a dead lock owner, a journal to replay,
 * an error) is a miss: nothing shared was changed, and the Python caller goes to the Go
 * core, which does it all.  The rules are the Go core's (gompx/internal/mpq, produce.go
 * and consume.go), step for step:
 *
 *   put: lock (CAS 0 -> pid); room check as reserve(); admit under the admission
 *        lock (AJournal: MaxSize check, journal, store the slot's Claimed and
 *        Admitted); write the record; journal the publish (PJournal); store Tail;
 *        count it in the slot's Released; clear the journal; wake
 *        consumers if any sleep; unlock (wake a lock waiter if the bit is set).
 *   get: lock; read Head, Consumed, Tail; check the record as record(); copy it out;
 *        journal the new Head and Consumed (Valid last), store them, clear the journal;
 *        wake producers if any sleep; unlock.
 *
 * A process killed anywhere in here leaves what a killed Go producer or consumer
 * leaves: its lock is taken over by the next waiter (in Go), a put is either published
 * or overwritten, a get's journal is replayed.  The GIL is held throughout and nothing
 * here waits, so Python threads never interleave inside a step; Go goroutines of this
 * process (the flusher, a thread's call into Go) meet this code at the shared lock word.
 *
 * The offsets below are checked against the Go definition by a test
 * (tests/test_queue_fastpath.py: queue_layout() against gompxcore.QueueLayout()).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "gompxqueue.h"
#include "gompxfailpoint.h"

/* The shared file (gompx/internal/mpq/header.go, doc.go). */
#define Q_MAGIC 0x31305158504d4f47ull
#define Q_OFF_MAGIC 0
#define Q_OFF_CAPACITY 8
#define Q_OFF_MAXSIZE 16
#define Q_OFF_SOFTLIMIT 24
#define Q_OFF_PRODUCER_LOCK 64
#define Q_OFF_CONSUMER_LOCK 128
#define Q_OFF_TAIL 192
#define Q_OFF_ADMITTED 200
#define Q_OFF_DATA_SEQ 208
#define Q_OFF_DATA_WAITERS 212
#define Q_OFF_PJOURNAL 216
#define Q_OFF_HEAD 256
#define Q_OFF_CONSUMED 264
#define Q_OFF_SPACE_SEQ 272
#define Q_OFF_SPACE_WAITERS 276
#define Q_OFF_CJOURNAL 280
#define Q_OFF_TASKS_DONE 320
#define Q_OFF_DONE_SEQ 328
#define Q_OFF_DONE_WAITERS 332
#define Q_OFF_AJOURNAL 384
#define Q_OFF_SLOTS 448
#define Q_HEADER_SIZE (448 + 128 * 24)
#define Q_JOURNAL_VALID 0
#define Q_JOURNAL_POSITION 8
#define Q_JOURNAL_MESSAGES 16
#define Q_PJOURNAL_STATE 0
#define Q_PJOURNAL_TAIL 8
#define Q_PJOURNAL_COUNT 16
#define Q_AJOURNAL_LOCK 0
#define Q_AJOURNAL_SLOT 4
#define Q_AJOURNAL_ADMITTED 8
#define Q_AJOURNAL_CLAIMED 16
#define Q_AJ_VALID 0x40000000u
#define Q_SLOT_PID 0
#define Q_SLOT_BACKLOG 4
#define Q_SLOT_CLAIMED 8
#define Q_SLOT_RELEASED 16
#define Q_SLOT_SIZE 24
#define Q_DATA_OFFSET 4096
#define Q_PAGE 4096ull
#define Q_RECORD_HEADER 24
#define Q_FLAG_FIRST 1
#define Q_FLAG_LAST 2
#define Q_FLAG_SKIP 4
#define Q_LOCK_WAITERS 0x80000000u

/* Message kinds (gompx.MessageKind). */
#define KIND_PICKLE 0
#define KIND_BYTES 1

typedef struct {
    PyObject_HEAD
    char *base;   /* the mapping (NULL: fast path off, every call misses) */
    char *data;   /* base + Q_DATA_OFFSET */
    char *slot;   /* this process's producer slot (NULL: puts miss) */
    uint64_t cap, soft, maxsize;
    uint64_t get_max; /* longer messages are left to Go, which fills an object in place */
    uint64_t put_max; /* longer payloads are left to Go (one chunk, no prefault) */
    uint32_t pid;
    /* The last Head a put and the last Tail a get of this object read: both only grow,
     * so an old value errs on the safe side (less room, fewer messages), and reading
     * them again only when that is not enough spares a cache line the other side
     * writes on every message (as seenHead and seenTail do in Go). */
    uint64_t seen_head, seen_tail;
    /* put_many's records, built before the producer lock is taken (pickling may run
     * Python code; nothing may under the lock), then copied into the ring at once. */
    char *stage;
    uint64_t stage_cap;
    uint64_t *ends; /* where each staged record ends */
    /* A put_many is staging.  Staging runs no Python code today (bytes and small_pickle
     * only); should it ever (a pickler call, a collection), a put_many reentering on this
     * object misses instead of writing into the stage being filled. */
    int staging;
    /* Python holds items (or an exception) this process took from the ring and has not
     * handed out yet (_QueueBase._stash): while set, gets miss and Python goes first. */
    int stashed;
    /* The last _fast_get_many stopped before a message that is there but Go's to read. */
    int more;
} QueueCore;

static PyObject *dumps, *loads, *protocol5, *miss;

#define U32(p, off) ((uint32_t *)((p) + (off)))
#define U64(p, off) ((uint64_t *)((p) + (off)))

static inline uint64_t ld64(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline uint32_t ld32(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void st64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t align8(uint64_t n) { return (n + 7) & ~7ull; }

static inline int
cas32(uint32_t *p, uint32_t expected, uint32_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

static inline int
cas64(uint64_t *p, uint64_t expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

static void
futex_wake_all(uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* mpq's unlock: a waiter sleeping on the word set the bit before it slept. */
static inline void
unlock(uint32_t *word)
{
    if (__atomic_exchange_n(word, 0, __ATOMIC_SEQ_CST) & Q_LOCK_WAITERS)
        futex_wake_all(word, 1);
}

/* mpq's wake: the sleeper registered in waiters before its last look, and this store
 * of the position came before this load of waiters, so one of the two sees the other. */
static inline void
wake(uint32_t *seq, uint32_t *waiters)
{
    if (ld32(waiters) != 0) {
        __atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST);
        futex_wake_all(seq, 1 << 30);
    }
}

/* A record of total bytes at stream position tail fits now, as reserve() finds: no skip
 * record, no early wrap to the ring's start, room up to the page holding Head. */
static int
fits(QueueCore *self, uint64_t head, uint64_t tail, uint64_t need)
{
    uint64_t off = tail % self->cap;
    uint64_t limit = (head & ~(Q_PAGE - 1)) + self->cap, free = 0;
    if (limit > tail)
        free = limit - tail;
    if (off > 0 && off + need > self->soft && self->soft < self->cap)
        return 0; /* past SoftLimit: Go decides between waiting and going back */
    return off + need <= self->cap && need <= free;
}

static int
room_for(QueueCore *self, uint64_t tail, uint64_t need)
{
    if (fits(self, self->seen_head, tail, need))
        return 1;
    uint64_t head = ld64(U64(self->base, Q_OFF_HEAD));
    if (head == self->seen_head)
        return 0;
    self->seen_head = head;
    return fits(self, head, tail, need);
}

/* admit_n counts up to want messages in, in Admitted and this process's slot's Claimed,
 * under the admission lock and through its journal, as admit() does in Go; it returns
 * how many (fewer than want when a bounded queue has less room), 0 when a bounded queue
 * is full or another process holds the admission lock (Go waits; nothing changed). */
static uint64_t
admit_n(QueueCore *self, uint64_t want)
{
    char *h = self->base, *aj = h + Q_OFF_AJOURNAL;
    uint32_t *lock = U32(aj, Q_AJOURNAL_LOCK);
    if (!cas32(lock, 0, self->pid))
        return 0;
    uint64_t a = ld64(U64(h, Q_OFF_ADMITTED)), c = ld64(U64(h, Q_OFF_CONSUMED));
    uint64_t n = want;
    if (self->maxsize != 0) {
        uint64_t queued = a - (c < a ? c : a);
        uint64_t room = queued >= self->maxsize ? 0 : self->maxsize - queued;
        n = want < room ? want : room;
    }
    if (n == 0) {
        __atomic_store_n(lock, 0, __ATOMIC_SEQ_CST);
        return 0;
    }
    uint64_t *claimed = U64(self->slot, Q_SLOT_CLAIMED);
    uint64_t cl = ld64(claimed) + n;
    /* Plain stores for the journal (a taker reads it only after seeing Q_AJ_VALID),
     * release stores after it: this is x86's plain mov each, where the old lock-free
     * admission cost two locked adds.  The producer lock's publish (seq_cst) orders
     * them before any consumer sees the message. */
    *U32(aj, Q_AJOURNAL_SLOT) = (uint32_t)((self->slot - h - Q_OFF_SLOTS) / Q_SLOT_SIZE + 1);
    *U64(aj, Q_AJOURNAL_ADMITTED) = a + n;
    *U64(aj, Q_AJOURNAL_CLAIMED) = cl;
    __atomic_store_n(lock, self->pid | Q_AJ_VALID, __ATOMIC_RELEASE);
    __atomic_store_n(claimed, cl, __ATOMIC_RELEASE);
    FAILPOINT(FP_CQUEUE_ADMIT_CLAIMED);
    __atomic_store_n(U64(h, Q_OFF_ADMITTED), a + n, __ATOMIC_RELEASE);
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
    return n;
}

static int
admit(QueueCore *self)
{
    return admit_n(self, 1) == 1;
}

/* publish makes the count admitted records written below new_tail visible and
 * releases the producer lock. The publish is journaled as commit() journals it: a death
 * between storing Tail and taking the messages out of this process's slot is then
 * settled, not counted out twice. pj is the journal state read under the lock. */
static inline void
publish(QueueCore *self, uint64_t pj, uint64_t new_tail, uint64_t count)
{
    char *h = self->base;
    uint64_t *pj_state = U64(h, Q_OFF_PJOURNAL + Q_PJOURNAL_STATE);
    uint64_t gen = (pj >> 32) + 1;
    st64(U64(h, Q_OFF_PJOURNAL + Q_PJOURNAL_TAIL), new_tail);
    st64(U64(h, Q_OFF_PJOURNAL + Q_PJOURNAL_COUNT), count);
    st64(pj_state, gen << 32 | self->pid);
    st64(U64(h, Q_OFF_TAIL), new_tail);
    FAILPOINT(FP_CQUEUE_PUT_PUBLISHED);
    __atomic_add_fetch(U64(self->slot, Q_SLOT_RELEASED), count, __ATOMIC_SEQ_CST);
    st64(pj_state, gen << 32);
    wake(U32(h, Q_OFF_DATA_SEQ), U32(h, Q_OFF_DATA_WAITERS));
    unlock(U32(h, Q_OFF_PRODUCER_LOCK));
}

/* put_bytes puts n bytes at src as one message of the given kind; 0 on a miss. */
static int
put_bytes(QueueCore *self, const char *src, uint64_t n, int kind)
{
    char *h = self->base;
    if (h == NULL || self->slot == NULL || n > self->put_max ||
        ld32(U32(self->slot, Q_SLOT_BACKLOG)) != 0)
        return 0;
    uint32_t *lock = U32(h, Q_OFF_PRODUCER_LOCK);
    if (!cas32(lock, 0, self->pid))
        return 0;
    /* A publish a dead producer left journaled is Go's to settle (settlePublish). */
    uint64_t *pj_state = U64(h, Q_OFF_PJOURNAL + Q_PJOURNAL_STATE);
    uint64_t pj = ld64(pj_state);
    uint64_t tail = ld64(U64(h, Q_OFF_TAIL));
    uint64_t need = align8(Q_RECORD_HEADER + n);
    if ((uint32_t)pj != 0 || !room_for(self, tail, need) || !admit(self)) {
        unlock(lock);
        return 0;
    }
    char *rec = self->data + tail % self->cap;
    uint64_t word = n | (uint64_t)(Q_FLAG_FIRST | Q_FLAG_LAST) << 32 | (uint64_t)kind << 40;
    memcpy(rec, &word, 8);
    word = self->pid;
    memcpy(rec + 8, &word, 8);
    memcpy(rec + 16, &n, 8);
    memcpy(rec + Q_RECORD_HEADER, src, n);
    FAILPOINT(FP_CQUEUE_PUT_WRITTEN);
    publish(self, pj, tail + need, 1);
    return 1;
}

/* The pickles of the commonest small items, byte for byte as CPython's pickler writes
 * them at protocol 5 (an int in [-2**31, 2**31), None, True, False): writing and
 * reading those here spares a pickler and an unpickler each way, a third of a small
 * put or get.  tests/test_queue_fastpath.py checks both directions against pickle. */
#define P_PROTO 0x80, 0x05
#define P_FRAME(n) 0x95, (n), 0, 0, 0, 0, 0, 0, 0
#define P_STOP 0x2e

static Py_ssize_t
small_pickle(PyObject *obj, unsigned char out[24])
{
    static const unsigned char none[] = {P_PROTO, 'N', P_STOP};
    static const unsigned char yes[] = {P_PROTO, 0x88, P_STOP};
    static const unsigned char no[] = {P_PROTO, 0x89, P_STOP};
    if (obj == Py_None || obj == Py_True || obj == Py_False) {
        memcpy(out, obj == Py_None ? none : obj == Py_True ? yes : no, 4);
        return 4;
    }
    if (Py_TYPE(obj) != &PyLong_Type)
        return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v >= 0 && v < 256) { /* BININT1 */
        const unsigned char p[] = {P_PROTO, 'K', (unsigned char)v, P_STOP};
        memcpy(out, p, sizeof p);
        return sizeof p;
    }
    if (v >= 0 && v < 65536) { /* BININT2, framed */
        const unsigned char p[] = {P_PROTO, P_FRAME(4), 'M', v & 0xff, v >> 8, P_STOP};
        memcpy(out, p, sizeof p);
        return sizeof p;
    }
    if (v >= -2147483648LL && v <= 2147483647LL) { /* BININT, framed */
        uint32_t u = (uint32_t)(int32_t)v;
        const unsigned char p[] = {P_PROTO, P_FRAME(6), 'J', u & 0xff, (u >> 8) & 0xff,
                                   (u >> 16) & 0xff, u >> 24, P_STOP};
        memcpy(out, p, sizeof p);
        return sizeof p;
    }
    return 0;
}

/* The item a pickle of small_pickle's forms stands for (whoever wrote it); NULL with
 * no error set for any other pickle. */
static PyObject *
small_unpickle(const unsigned char *p, uint64_t n)
{
    static const unsigned char frame4[] = {P_PROTO, P_FRAME(4), 'M'};
    static const unsigned char frame6[] = {P_PROTO, P_FRAME(6), 'J'};
    if (n < 4 || p[0] != 0x80 || p[1] != 5 || p[n - 1] != P_STOP)
        return NULL;
    if (n == 4) {
        if (p[2] == 'N')
            Py_RETURN_NONE;
        if (p[2] == 0x88)
            Py_RETURN_TRUE;
        if (p[2] == 0x89)
            Py_RETURN_FALSE;
        return NULL;
    }
    if (n == 5 && p[2] == 'K')
        return PyLong_FromLong(p[3]);
    if (n == 15 && memcmp(p, frame4, sizeof frame4) == 0)
        return PyLong_FromLong(p[12] | p[13] << 8);
    if (n == 17 && memcmp(p, frame6, sizeof frame6) == 0)
        return PyLong_FromLong((int32_t)((uint32_t)p[12] | (uint32_t)p[13] << 8 |
                                         (uint32_t)p[14] << 16 | (uint32_t)p[15] << 24));
    return NULL;
}

static PyObject *
QueueCore_fast_put(QueueCore *self, PyObject *obj)
{
    if (self->base == NULL || self->slot == NULL)
        Py_RETURN_FALSE;
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyBytes_Type)
        return PyBool_FromLong(put_bytes(self, PyBytes_AS_STRING(obj),
                                         (uint64_t)PyBytes_GET_SIZE(obj), KIND_BYTES));
    if (t != &PyLong_Type && t != &PyFloat_Type && t != &PyUnicode_Type && t != &PyBool_Type &&
        obj != Py_None)
        Py_RETURN_FALSE; /* may hold buffers, or need the forking pickler: Python decides */
    unsigned char small[24];
    Py_ssize_t len = small_pickle(obj, small);
    if (len > 0)
        return PyBool_FromLong(put_bytes(self, (const char *)small, (uint64_t)len, KIND_PICKLE));
    PyObject *data = PyObject_CallFunctionObjArgs(dumps, obj, protocol5, NULL);
    if (data == NULL)
        return NULL;
    int done = put_bytes(self, PyBytes_AS_STRING(data), (uint64_t)PyBytes_GET_SIZE(data),
                         KIND_PICKLE);
    Py_DECREF(data);
    return PyBool_FromLong(done);
}

/* The commit would punch pages beyond SoftLimit out of the file (consume.go's commit):
 * left to Go, which journals around the punch. */
static int
would_punch(QueueCore *self, uint64_t head, uint64_t pos)
{
    if (self->soft >= self->cap)
        return 0;
    uint64_t from = head & ~(Q_PAGE - 1), to = pos & ~(Q_PAGE - 1);
    while (from < to) {
        uint64_t off = from % self->cap, n = to - from;
        if (n > self->cap - off)
            n = self->cap - off;
        if (off + n > self->soft)
            return 1;
        from += n;
    }
    return 0;
}

/* get_ready takes the message at Head if it is one simple record; NULL with no error
 * set on a miss, *kind set on success: the kind of the bytes returned, or -1 for an
 * item decoded here (small_unpickle). */
static PyObject *
get_ready(QueueCore *self, int *kind)
{
    char *h = self->base;
    uint32_t *lock = U32(h, Q_OFF_CONSUMER_LOCK);
    if (!cas32(lock, 0, self->pid))
        return NULL;
    PyObject *out = NULL;
    char *journal = h + Q_OFF_CJOURNAL;
    uint64_t pos = ld64(U64(h, Q_OFF_HEAD)), consumed = ld64(U64(h, Q_OFF_CONSUMED));
    if (ld64(U64(journal, Q_JOURNAL_VALID)) != 0)
        goto done; /* a commit to replay: Go */
    if (pos >= self->seen_tail) {
        self->seen_tail = ld64(U64(h, Q_OFF_TAIL));
        if (pos >= self->seen_tail)
            goto done; /* nothing there: Go waits */
    }
    uint64_t off = pos % self->cap, word, pid, total;
    if (off % 8 != 0)
        goto done;
    const char *rec = self->data + off;
    memcpy(&word, rec, 8);
    memcpy(&pid, rec + 8, 8);
    memcpy(&total, rec + 16, 8);
    uint64_t n = word & 0xffffffffu;
    int flags = (int)(word >> 32) & 0xff;
    *kind = (int)(word >> 40) & 0xff;
    /* Skip records, chunks, other kinds, and whatever Go would call corrupt: Go. */
    if (flags != (Q_FLAG_FIRST | Q_FLAG_LAST) || total != n || (uint32_t)pid == 0 ||
        n > self->get_max || off + align8(Q_RECORD_HEADER + n) > self->cap ||
        (*kind != KIND_PICKLE && *kind != KIND_BYTES))
        goto done;
    uint64_t next = pos + align8(Q_RECORD_HEADER + n);
    if (would_punch(self, pos, next))
        goto done;
    if (*kind == KIND_PICKLE &&
        (out = small_unpickle((const unsigned char *)rec + Q_RECORD_HEADER, n)) != NULL)
        *kind = -1;
    else if (!PyErr_Occurred())
        out = PyBytes_FromStringAndSize(rec + Q_RECORD_HEADER, (Py_ssize_t)n);
    if (out == NULL)
        goto done; /* MemoryError, nothing consumed */
    FAILPOINT(FP_CQUEUE_GET_READ);
    *U64(journal, Q_JOURNAL_POSITION) = next;
    *U64(journal, Q_JOURNAL_MESSAGES) = consumed + 1;
    st64(U64(journal, Q_JOURNAL_VALID), 1);
    FAILPOINT(FP_CQUEUE_GET_JOURNALED);
    st64(U64(h, Q_OFF_HEAD), next);
    st64(U64(h, Q_OFF_CONSUMED), consumed + 1);
    st64(U64(journal, Q_JOURNAL_VALID), 0);
    wake(U32(h, Q_OFF_SPACE_SEQ), U32(h, Q_OFF_SPACE_WAITERS));
done:
    unlock(lock);
    return out;
}

static PyObject *
QueueCore_fast_get(QueueCore *self, PyObject *unused)
{
    if (self->base == NULL || self->stashed)
        goto missed;
    int kind;
    PyObject *data = get_ready(self, &kind);
    if (data == NULL) {
        if (PyErr_Occurred())
            return NULL;
        goto missed;
    }
    if (kind != KIND_PICKLE)
        return data; /* bytes, or an item small_unpickle decoded */
    /* Unpickled after the lock is given back: loading may run any code, a get on this
     * queue included. */
    PyObject *obj = PyObject_CallOneArg(loads, data);
    Py_DECREF(data);
    return obj;
missed:
    Py_INCREF(miss);
    return miss;
}

/* A batch stages at most this many bytes and items per call; the caller calls again for
 * the rest.  256 KiB keeps the copy in L2 and the lock hold short for other producers. */
#define BATCH_BYTES (256 * 1024)
#define BATCH_ITEMS 8192

/* stage_record appends one record (header as write() lays it, payload, zero padding) to
 * the staging buffer at *used; 0 if it does not fit there. */
static int
stage_record(QueueCore *self, uint64_t *used, const char *src, uint64_t n, int kind)
{
    uint64_t need = align8(Q_RECORD_HEADER + n);
    if (*used + need > self->stage_cap)
        return 0;
    char *rec = self->stage + *used;
    uint64_t word = n | (uint64_t)(Q_FLAG_FIRST | Q_FLAG_LAST) << 32 | (uint64_t)kind << 40;
    memcpy(rec, &word, 8);
    word = self->pid;
    memcpy(rec + 8, &word, 8);
    memcpy(rec + 16, &n, 8);
    memcpy(rec + Q_RECORD_HEADER, src, n);
    memset(rec + Q_RECORD_HEADER + n, 0, need - Q_RECORD_HEADER - n);
    *used += need;
    return 1;
}

/* put_staged publishes a prefix of the count staged records (ends[i]: where record i
 * ends in the stage) as put_bytes publishes one: the records that fit before the ring's
 * end and SoftLimit, admitted under MaxSize, in one journaled commit.  Returns how many
 * went in (0: a miss, nothing shared changed). */
static Py_ssize_t
put_staged(QueueCore *self, const uint64_t *ends, Py_ssize_t count)
{
    char *h = self->base;
    if (count == 0 || ld32(U32(self->slot, Q_SLOT_BACKLOG)) != 0)
        return 0;
    uint32_t *lock = U32(h, Q_OFF_PRODUCER_LOCK);
    if (!cas32(lock, 0, self->pid))
        return 0;
    uint64_t *pj_state = U64(h, Q_OFF_PJOURNAL + Q_PJOURNAL_STATE);
    uint64_t pj = ld64(pj_state);
    uint64_t tail = ld64(U64(h, Q_OFF_TAIL));
    Py_ssize_t k = 0;
    if ((uint32_t)pj == 0) {
        /* room_for is monotone in need: the longest prefix that fits, from the top. */
        for (k = count; k > 0 && !room_for(self, tail, ends[k - 1]); k--)
            ;
    }
    if (k > 0)
        k = (Py_ssize_t)admit_n(self, (uint64_t)k);
    if (k == 0) {
        unlock(lock);
        return 0;
    }
    uint64_t bytes = ends[k - 1];
    memcpy(self->data + tail % self->cap, self->stage, bytes);
    FAILPOINT(FP_CQUEUE_PUT_WRITTEN);
    publish(self, pj, tail + bytes, (uint64_t)k);
    return k;
}

static PyObject *put_many(QueueCore *self, PyObject *items, Py_ssize_t start);

/* _fast_put_many(items, start) -> how many of items[start:] went in from C (0: none,
 * use Go for the rest).  Items are taken while they are bytes or plain objects (the
 * types _fast_put takes), up to BATCH_BYTES and BATCH_ITEMS. */
static PyObject *
QueueCore_fast_put_many(QueueCore *self, PyObject *args)
{
    PyObject *items;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "O!n:_fast_put_many", &PyList_Type, &items, &start))
        return NULL;
    if (self->base == NULL || self->slot == NULL || start < 0)
        return PyLong_FromLong(0);
    if (self->stage == NULL) {
        self->ends = PyMem_RawMalloc(BATCH_ITEMS * sizeof(uint64_t));
        self->stage = PyMem_RawMalloc(BATCH_BYTES);
        if (self->stage == NULL || self->ends == NULL) {
            PyMem_RawFree(self->ends);
            PyMem_RawFree(self->stage);
            self->ends = NULL;
            self->stage = NULL;
            return PyErr_NoMemory();
        }
        self->stage_cap = BATCH_BYTES;
    }
    if (self->staging)
        return PyLong_FromLong(0);
    self->staging = 1;
    PyObject *r = put_many(self, items, start);
    self->staging = 0;
    return r;
}

static PyObject *
put_many(QueueCore *self, PyObject *items, Py_ssize_t start)
{
    uint64_t *ends = self->ends;
    uint64_t used = 0;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = start; i < PyList_GET_SIZE(items) && count < BATCH_ITEMS; i++) {
        PyObject *obj = PyList_GET_ITEM(items, i);
        PyTypeObject *t = Py_TYPE(obj);
        int ok;
        Py_INCREF(obj);
        if (t == &PyBytes_Type) {
            uint64_t n = (uint64_t)PyBytes_GET_SIZE(obj);
            ok = n <= self->put_max && stage_record(self, &used, PyBytes_AS_STRING(obj), n,
                                                     KIND_BYTES);
        } else {
            unsigned char small[24];
            Py_ssize_t n = small_pickle(obj, small);
            if (n > 0) {
                ok = stage_record(self, &used, (const char *)small, (uint64_t)n, KIND_PICKLE);
            } else {
                /* Go's: one dumps() of the rest of the list, which Go cuts into items, is
                 * ~3x cheaper per item than a pickler call per item from here. */
                ok = 0;
            }
        }
        Py_DECREF(obj);
        if (!ok)
            break;
        ends[count++] = used;
        if (self->base == NULL || self->slot == NULL)
            return PyLong_FromLong(0); /* closed meanwhile */
    }
    return PyLong_FromSsize_t(put_staged(self, ends, count));
}

/* _fast_stash(on): Python stashed items (gets from C miss until they are handed out),
 * or emptied the stash (gets from C resume). */
static PyObject *
QueueCore_fast_stash(QueueCore *self, PyObject *on)
{
    int v = PyObject_IsTrue(on);
    if (v < 0)
        return NULL;
    self->stashed = v;
    Py_RETURN_NONE;
}

/* _fast_get_many(max) -> a list of 1 to max items that are already there, or MISS:
 * the messages at Head, as long as they are simple records of bytes or of the pickles
 * small_unpickle decodes, taken under one acquisition of the consumer lock and one
 * journaled commit, as get_ready takes one.  Nothing here runs Python code. */
static PyObject *
QueueCore_fast_get_many(QueueCore *self, PyObject *arg)
{
    Py_ssize_t max = PyNumber_AsSsize_t(arg, NULL); /* clamped: C takes at most BATCH_ITEMS */
    if (max == -1 && PyErr_Occurred())
        return NULL;
    self->more = 0;
    if (self->base == NULL || self->stashed || max < 1)
        goto missed;
    if (max > BATCH_ITEMS)
        max = BATCH_ITEMS;
    /* Allocated before the lock: nothing under it may run a collection (a finalizer
     * could get from this queue and wait for the lock this process holds). */
    PyObject *out = PyList_New(max);
    if (out == NULL)
        return NULL;
    Py_ssize_t count = 0;
    char *h = self->base;
    uint32_t *lock = U32(h, Q_OFF_CONSUMER_LOCK);
    if (!cas32(lock, 0, self->pid))
        goto empty;
    char *journal = h + Q_OFF_CJOURNAL;
    uint64_t head = ld64(U64(h, Q_OFF_HEAD)), consumed = ld64(U64(h, Q_OFF_CONSUMED));
    uint64_t pos = head;
    if (ld64(U64(journal, Q_JOURNAL_VALID)) == 0) {
        while (count < max) {
            if (pos >= self->seen_tail) {
                self->seen_tail = ld64(U64(h, Q_OFF_TAIL));
                if (pos >= self->seen_tail)
                    break;
            }
            uint64_t off = pos % self->cap, word, pid, total;
            if (off % 8 != 0)
                break;
            const char *rec = self->data + off;
            memcpy(&word, rec, 8);
            memcpy(&pid, rec + 8, 8);
            memcpy(&total, rec + 16, 8);
            uint64_t n = word & 0xffffffffu;
            int flags = (int)(word >> 32) & 0xff, kind = (int)(word >> 40) & 0xff;
            if (flags != (Q_FLAG_FIRST | Q_FLAG_LAST) || total != n || (uint32_t)pid == 0 ||
                n > self->get_max || off + align8(Q_RECORD_HEADER + n) > self->cap ||
                (kind != KIND_PICKLE && kind != KIND_BYTES)) {
                self->more = 1; /* Go's to read: the batch ends before it */
                break;
            }
            uint64_t next = pos + align8(Q_RECORD_HEADER + n);
            if (would_punch(self, head, next)) {
                self->more = 1;
                break;
            }
            const char *payload = rec + Q_RECORD_HEADER;
            PyObject *item;
            if (kind == KIND_PICKLE) {
                item = small_unpickle((const unsigned char *)payload, n);
                if (item == NULL && !PyErr_Occurred()) {
                    /* Go's: it joins the pickles of a batch for one loads(), ~3x
                     * cheaper per item than a loads() call per item from here. */
                    self->more = 1;
                    break;
                }
            } else {
                item = PyBytes_FromStringAndSize(payload, (Py_ssize_t)n);
            }
            if (item == NULL) {
                PyErr_Clear(); /* MemoryError: this one stays in the queue */
                break;
            }
            PyList_SET_ITEM(out, count, item);
            count++;
            pos = next;
        }
    }
    if (count > 0) {
        *U64(journal, Q_JOURNAL_POSITION) = pos;
        *U64(journal, Q_JOURNAL_MESSAGES) = consumed + (uint64_t)count;
        st64(U64(journal, Q_JOURNAL_VALID), 1);
        st64(U64(h, Q_OFF_HEAD), pos);
        st64(U64(h, Q_OFF_CONSUMED), consumed + (uint64_t)count);
        st64(U64(journal, Q_JOURNAL_VALID), 0);
        wake(U32(h, Q_OFF_SPACE_SEQ), U32(h, Q_OFF_SPACE_WAITERS));
    }
    unlock(lock);
empty:
    if (count == 0) {
        Py_DECREF(out);
        goto missed;
    }
    Py_SET_SIZE(out, count); /* the unused slots are NULL: nothing to release */
    return out;
missed:
    Py_INCREF(miss);
    return miss;
}

/* task_done as tasks.go's TaskDone: count one more task done, never past Admitted,
 * and wake Join's sleepers.  False (a miss) when every admitted message is done: Go
 * raises the error. */
static PyObject *
QueueCore_fast_task_done(QueueCore *self, PyObject *unused)
{
    char *h = self->base;
    if (h == NULL)
        Py_RETURN_FALSE;
    uint64_t *done = U64(h, Q_OFF_TASKS_DONE);
    for (;;) {
        uint64_t d = ld64(done);
        if (d >= ld64(U64(h, Q_OFF_ADMITTED)))
            Py_RETURN_FALSE;
        if (cas64(done, d, d + 1))
            break;
    }
    wake(U32(h, Q_OFF_DONE_SEQ), U32(h, Q_OFF_DONE_WAITERS));
    Py_RETURN_TRUE;
}

/* _fast_enable(address, size, pid, get_max, put_max): the queue's mapping, from
 * gompxcore.QueueView; checked here against what this file expects. */
static PyObject *
QueueCore_fast_enable(QueueCore *self, PyObject *args)
{
    unsigned long long addr, size, get_max, put_max;
    unsigned long pid;
    if (!PyArg_ParseTuple(args, "KKkKK:_fast_enable", &addr, &size, &pid, &get_max, &put_max))
        return NULL;
    char *base = (char *)(uintptr_t)addr;
    if (base == NULL || size < Q_DATA_OFFSET + 65536 || ((uintptr_t)base & (Q_PAGE - 1)) != 0 ||
        ld64(U64(base, Q_OFF_MAGIC)) != Q_MAGIC ||
        *U64(base, Q_OFF_CAPACITY) != size - Q_DATA_OFFSET) {
        PyErr_SetString(PyExc_ValueError, "not the mapping of a gompx queue");
        return NULL;
    }
    uint64_t cap = size - Q_DATA_OFFSET;
    uint64_t max_single = cap / 2 - Q_RECORD_HEADER - Q_PAGE; /* mpq's maxSingle */
    self->cap = cap;
    self->soft = *U64(base, Q_OFF_SOFTLIMIT);
    self->maxsize = *U64(base, Q_OFF_MAXSIZE);
    self->get_max = get_max;
    self->put_max = put_max < max_single ? put_max : max_single;
    self->pid = (uint32_t)pid;
    self->slot = NULL;
    self->seen_head = self->seen_tail = 0;
    self->data = base + Q_DATA_OFFSET;
    self->base = base;
    Py_RETURN_NONE;
}

/* _fast_enable_put(slot_offset): puts from C from now on, counted in that slot. */
static PyObject *
QueueCore_fast_enable_put(QueueCore *self, PyObject *arg)
{
    long long off = PyLong_AsLongLong(arg);
    if (off == -1 && PyErr_Occurred())
        return NULL;
    if (self->base == NULL)
        Py_RETURN_FALSE;
    if (off < Q_OFF_SLOTS || off >= Q_HEADER_SIZE || (off - Q_OFF_SLOTS) % Q_SLOT_SIZE != 0 ||
        *U32(self->base + off, Q_SLOT_PID) != self->pid) {
        PyErr_Format(PyExc_ValueError, "offset %lld is not this process's producer slot", off);
        return NULL;
    }
    self->slot = self->base + off;
    Py_RETURN_TRUE;
}

/* _fast_disable(): every call misses from now on (before the mapping goes away). */
static PyObject *
QueueCore_fast_disable(QueueCore *self, PyObject *unused)
{
    self->base = self->data = self->slot = NULL;
    Py_RETURN_NONE;
}

static PyObject *
QueueCore_fast_state(QueueCore *self, PyObject *unused)
{
    return Py_BuildValue("(OO)", self->base ? Py_True : Py_False,
                         self->slot ? Py_True : Py_False);
}

static PyMethodDef QueueCore_methods[] = {
    {"_fast_put", (PyCFunction)QueueCore_fast_put, METH_O,
     "_fast_put(obj) -> bool: put a plain object or bytes from C; False: use Go"},
    {"_fast_get", (PyCFunction)QueueCore_fast_get, METH_NOARGS,
     "_fast_get() -> item, or MISS: use Go"},
    {"_fast_put_many", (PyCFunction)QueueCore_fast_put_many, METH_VARARGS,
     "_fast_put_many(items, start) -> how many of items[start:] went in from C"},
    {"_fast_get_many", (PyCFunction)QueueCore_fast_get_many, METH_O,
     "_fast_get_many(max) -> list of 1 to max items, or MISS: use Go"},
    {"_fast_stash", (PyCFunction)QueueCore_fast_stash, METH_O,
     "_fast_stash(on): items are stashed (gets from C miss), or no longer"},
    {"_fast_task_done", (PyCFunction)QueueCore_fast_task_done, METH_NOARGS,
     "_fast_task_done() -> bool: task_done from C; False: use Go"},
    {"_fast_enable", (PyCFunction)QueueCore_fast_enable, METH_VARARGS,
     "_fast_enable(address, size, pid, get_max, put_max)"},
    {"_fast_enable_put", (PyCFunction)QueueCore_fast_enable_put, METH_O,
     "_fast_enable_put(slot_offset) -> bool"},
    {"_fast_disable", (PyCFunction)QueueCore_fast_disable, METH_NOARGS, "_fast_disable()"},
    {"_fast_state", (PyCFunction)QueueCore_fast_state, METH_NOARGS,
     "(gets enabled, puts enabled)"},
    {NULL}};

static PyMemberDef QueueCore_members[] = {
    {"_fast_more", T_INT, offsetof(QueueCore, more), READONLY,
     "the last _fast_get_many stopped before a message Go has to read"},
    {NULL}};

static void
QueueCore_dealloc(QueueCore *self)
{
    PyMem_RawFree(self->stage);
    PyMem_RawFree(self->ends);
    self->stage = NULL;
    self->ends = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject QueueCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gompx._gompxsync.QueueCore",
    .tp_basicsize = sizeof(QueueCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The C fast path under gompx's queues (see the module doc).",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)QueueCore_dealloc,
    .tp_methods = QueueCore_methods,
    .tp_members = QueueCore_members,
};

/* The offsets and constants this file uses, named as gompx/internal/mpq.Layout names
 * them. */
static const struct {
    const char *name;
    unsigned long long value;
} layout[] = {
    {"Magic", Q_OFF_MAGIC},
    {"Capacity", Q_OFF_CAPACITY},
    {"MaxSize", Q_OFF_MAXSIZE},
    {"SoftLimit", Q_OFF_SOFTLIMIT},
    {"ProducerLock", Q_OFF_PRODUCER_LOCK},
    {"ConsumerLock", Q_OFF_CONSUMER_LOCK},
    {"Tail", Q_OFF_TAIL},
    {"Admitted", Q_OFF_ADMITTED},
    {"DataSeq", Q_OFF_DATA_SEQ},
    {"DataWaiters", Q_OFF_DATA_WAITERS},
    {"PJournal", Q_OFF_PJOURNAL},
    {"Head", Q_OFF_HEAD},
    {"Consumed", Q_OFF_CONSUMED},
    {"SpaceSeq", Q_OFF_SPACE_SEQ},
    {"SpaceWaiters", Q_OFF_SPACE_WAITERS},
    {"CJournal", Q_OFF_CJOURNAL},
    {"TasksDone", Q_OFF_TASKS_DONE},
    {"DoneSeq", Q_OFF_DONE_SEQ},
    {"DoneWaiters", Q_OFF_DONE_WAITERS},
    {"AJournal", Q_OFF_AJOURNAL},
    {"Slots", Q_OFF_SLOTS},
    {"header.size", Q_HEADER_SIZE},
    {"journal.Valid", Q_JOURNAL_VALID},
    {"journal.Position", Q_JOURNAL_POSITION},
    {"journal.Messages", Q_JOURNAL_MESSAGES},
    {"pjournal.State", Q_PJOURNAL_STATE},
    {"pjournal.Tail", Q_PJOURNAL_TAIL},
    {"pjournal.Count", Q_PJOURNAL_COUNT},
    {"slot.Pid", Q_SLOT_PID},
    {"slot.Backlog", Q_SLOT_BACKLOG},
    {"ajournal.Lock", Q_AJOURNAL_LOCK},
    {"ajournal.Slot", Q_AJOURNAL_SLOT},
    {"ajournal.Admitted", Q_AJOURNAL_ADMITTED},
    {"ajournal.Claimed", Q_AJOURNAL_CLAIMED},
    {"slot.Claimed", Q_SLOT_CLAIMED},
    {"slot.Released", Q_SLOT_RELEASED},
    {"slot.size", Q_SLOT_SIZE},
    {"magic", Q_MAGIC},
    {"dataOffset", Q_DATA_OFFSET},
    {"pageSize", Q_PAGE},
    {"recordHeader", Q_RECORD_HEADER},
    {"flagFirst", Q_FLAG_FIRST},
    {"flagLast", Q_FLAG_LAST},
    {"flagSkip", Q_FLAG_SKIP},
    {"lockWaiters", Q_LOCK_WAITERS},
    {"ajValid", Q_AJ_VALID},
};

/* queue_layout() -> dict of the table above. */
static PyObject *
queue_layout(PyObject *module, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(layout[i].value);
        if (v == NULL || PyDict_SetItemString(d, layout[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

/* _small_pickle(obj) -> bytes or None; _small_unpickle(data) -> (True, item) or
 * (False, None): the C forms, for the test that compares them with pickle's. */
static PyObject *
py_small_pickle(PyObject *module, PyObject *obj)
{
    unsigned char out[24];
    Py_ssize_t n = small_pickle(obj, out);
    if (n == 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)out, n);
}

static PyObject *
py_small_unpickle(PyObject *module, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "bytes expected");
        return NULL;
    }
    PyObject *item = small_unpickle((const unsigned char *)PyBytes_AS_STRING(data),
                                    (uint64_t)PyBytes_GET_SIZE(data));
    if (item == NULL)
        return PyErr_Occurred() ? NULL : Py_BuildValue("(OO)", Py_False, Py_None);
    PyObject *r = Py_BuildValue("(OO)", Py_True, item);
    Py_DECREF(item);
    return r;
}

static PyMethodDef queue_functions[] = {
    {"_small_pickle", py_small_pickle, METH_O, "the C form of pickle.dumps(obj, 5), or None"},
    {"_small_unpickle", py_small_unpickle, METH_O, "(True, item) or (False, None)"},
    {"queue_layout", queue_layout, METH_NOARGS,
     "queue_layout() -> dict: the queue file layout the C fast path was compiled with"},
    {NULL}};

int
gompx_queue_register(PyObject *module)
{
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (pickle == NULL)
        return -1;
    dumps = PyObject_GetAttrString(pickle, "dumps");
    loads = PyObject_GetAttrString(pickle, "loads");
    Py_DECREF(pickle);
    protocol5 = PyLong_FromLong(5);
    miss = PyObject_CallObject((PyObject *)&PyBaseObject_Type, NULL);
    if (dumps == NULL || loads == NULL || protocol5 == NULL || miss == NULL)
        return -1;
    if (PyType_Ready(&QueueCoreType) < 0)
        return -1;
    Py_INCREF(&QueueCoreType);
    if (PyModule_AddObject(module, "QueueCore", (PyObject *)&QueueCoreType) < 0) {
        Py_DECREF(&QueueCoreType);
        return -1;
    }
    Py_INCREF(miss);
    if (PyModule_AddObject(module, "MISS", miss) < 0) {
        Py_DECREF(miss);
        return -1;
    }
    return PyModule_AddFunctions(module, queue_functions);
}
