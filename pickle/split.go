package pickle

// SplitList turns the pickle of a list (protocol 4 or 5, as CPython's C pickler writes
// it) into one standalone pickle per item, without decoding anything: it walks the
// opcodes, keeping for each value on the stack where the opcodes that built it start,
// and cuts the items out of the top-level list's APPEND and APPENDS groups. Loading the
// i-th result gives what loading the list gives at index i.
//
// As with ConcatList, that holds only for pickles that never read their memo: an item
// referring to an object pickled earlier (the same str object twice, a class used by two
// items) cannot stand alone. SplitList then reports false, as it does for anything that
// is not a list or that it cannot walk; the caller pickles the items one by one instead.
//
// gompx's queue uses it so that put_many pickles a batch with one dumps() call and the
// queue still holds one message per item.
func SplitList(p []byte) ([][]byte, bool) {
	var s ListSplitter
	return s.Split(p)
}

// ListSplitter does what SplitList does, reusing its memory from one call to the next:
// the items Split returns are valid until its next call.
type ListSplitter struct {
	w   splitter
	buf []byte
	out [][]byte
}

// Split is SplitList with reused memory.
func (ls *ListSplitter) Split(p []byte) ([][]byte, bool) {
	w := &ls.w
	w.clean, w.starts, w.marks, w.items, w.isList = w.clean[:0], w.starts[:0], w.marks[:0], w.items[:0], false
	if !w.walk(p) || len(w.starts) != 1 || !w.isList {
		return nil, false
	}
	// One buffer for all the items: PROTO 5, the item's opcodes, STOP. Sized first, so
	// that appending never moves it under the items already cut.
	total := 0
	for _, sp := range w.items {
		total += sp.end - sp.start + 3
	}
	if cap(ls.buf) < total {
		ls.buf = make([]byte, 0, total)
	}
	buf, out := ls.buf[:0], ls.out[:0]
	for _, sp := range w.items {
		at := len(buf)
		buf = append(buf, opPROTO, 5)
		buf = append(buf, w.clean[sp.start:sp.end]...)
		buf = append(buf, opSTOP)
		out = append(out, buf[at:len(buf):len(buf)])
	}
	ls.buf, ls.out = buf, out
	return out, true
}

type span struct{ start, end int }

// splitMark is a MARK on the stack: the stack depth under it and its offset in clean.
type splitMark struct{ depth, at int }

// splitter walks a pickle, copying its opcodes minus PROTO and FRAME into clean.
type splitter struct {
	clean  []byte
	starts []int       // per stack value: offset in clean where its opcodes start
	marks  []splitMark // one per MARK on the stack
	isList bool        // the first opcode is EMPTY_LIST, still at the bottom of the stack
	items  []span
}

func (w *splitter) walk(p []byte) bool {
	for i := 0; i < len(p); {
		op := p[i]
		n, ok := opcodeLength(p[i:])
		if !ok {
			return false
		}
		at := len(w.clean)
		switch op {
		case opPROTO, opFRAME:
			i += n
			continue
		case opSTOP:
			return i+n == len(p)
		}
		w.clean = append(w.clean, p[i:i+n]...)
		i += n
		if !w.apply(op, at) {
			return false
		}
	}
	return false // no STOP
}

// apply does op's stack effect; at is where op starts in clean.
func (w *splitter) apply(op byte, at int) bool {
	switch op {
	case opMEMOIZE:
		return len(w.starts) > 0
	case opMARK:
		w.marks = append(w.marks, splitMark{len(w.starts), at})
		return true
	case opEMPTY_LIST:
		if at == 0 {
			w.isList = true // the pickle's first opcode: the list itself
		}
		return w.push(at)
	case opNONE, opNEWTRUE, opNEWFALSE, opINT, opBININT, opBININT1, opBININT2, opLONG,
		opLONG1, opLONG4, opFLOAT, opBINFLOAT, opSTRING, opBINSTRING, opSHORT_BINSTRING,
		opUNICODE, opBINUNICODE, opSHORT_BINUNICODE, opBINUNICODE8, opBINBYTES,
		opSHORT_BINBYTES, opBINBYTES8, opBYTEARRAY8, opEMPTY_DICT, opEMPTY_TUPLE,
		opEMPTY_SET, opGLOBAL, opEXT1, opEXT2, opEXT4:
		return w.push(at)
	case opTUPLE1:
		return w.combine(1)
	case opTUPLE2, opBUILD, opREDUCE, opNEWOBJ, opSTACK_GLOBAL:
		return w.combine(2)
	case opTUPLE3, opSETITEM, opNEWOBJ_EX:
		return w.combine(3)
	case opAPPEND:
		return w.appendItems(len(w.starts)-1, at)
	case opTUPLE, opLIST, opDICT, opFROZENSET, opOBJ, opINST:
		return w.collapseToMark(true)
	case opAPPENDS:
		m, ok := w.popMark()
		return ok && w.appendItems(m.depth, at)
	case opSETITEMS, opADDITEMS, opPOP_MARK:
		return w.collapseToMark(false)
	}
	// Memo reads and writes with explicit indices, POP, DUP, persistent ids, buffers.
	return false
}

func (w *splitter) push(at int) bool {
	w.starts = append(w.starts, at)
	return true
}

// combine replaces the top n values with one that starts where the first of them did.
func (w *splitter) combine(n int) bool {
	if len(w.starts) < n || len(w.marks) > 0 && w.marks[len(w.marks)-1].depth > len(w.starts)-n {
		return false
	}
	w.starts = w.starts[:len(w.starts)-n+1]
	if len(w.starts) == 1 {
		w.isList = false // the bottom value was consumed: what stands there is no longer the list
	}
	return true
}

func (w *splitter) popMark() (splitMark, bool) {
	if len(w.marks) == 0 {
		return splitMark{}, false
	}
	m := w.marks[len(w.marks)-1]
	w.marks = w.marks[:len(w.marks)-1]
	return m, true
}

// collapseToMark pops the values above the top mark and, if push, pushes the one built
// from them, whose opcodes start at the MARK.
func (w *splitter) collapseToMark(push bool) bool {
	m, ok := w.popMark()
	if !ok {
		return false
	}
	if m.depth == 0 {
		w.isList = false // the whole stack goes: whatever ends up at the bottom is not the list
	}
	w.starts = w.starts[:m.depth]
	if push {
		w.starts = append(w.starts, m.at)
	}
	return true
}

// appendItems pops the values from index first on into the list just below them; when
// that list is the top-level one, they are items, each ending where the next starts.
func (w *splitter) appendItems(first, at int) bool {
	if first < 1 || first > len(w.starts) {
		return false
	}
	if first == 1 && w.isList {
		for i := first; i < len(w.starts); i++ {
			end := at
			if i+1 < len(w.starts) {
				end = w.starts[i+1]
			}
			w.items = append(w.items, span{w.starts[i], end})
		}
	}
	w.starts = w.starts[:first]
	return true
}
