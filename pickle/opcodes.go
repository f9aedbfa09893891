package pickle

// The pickle opcodes, grouped by the protocol that introduced them and named
// as Python's pickletools names them. Each is one byte on the wire; a byte
// that is none of these is a decoding error.
const (
	// Protocol 0 (text) and 1 (binary).
	opMARK            = '(' // push a mark: the start of a variable-length group
	opSTOP            = '.' // end of pickle: the top of the stack is the result
	opPOP             = '0' // discard the top of the stack
	opPOP_MARK        = '1' // discard everything down to and including the top mark
	opDUP             = '2' // push a copy of the top of the stack
	opFLOAT           = 'F' // float as a decimal text line
	opINT             = 'I' // int as a decimal text line; "01"/"00" mean True/False
	opBININT          = 'J' // int as 4-byte signed little-endian
	opBININT1         = 'K' // int as 1-byte unsigned
	opLONG            = 'L' // int as a decimal text line with an optional L suffix
	opBININT2         = 'M' // int as 2-byte unsigned little-endian
	opNONE            = 'N' // push None
	opPERSID          = 'P' // persistent id as a text line
	opBINPERSID       = 'Q' // persistent id taken from the stack
	opREDUCE          = 'R' // call stack[-2] with the argument tuple stack[-1]
	opSTRING          = 'S' // Python 2 str as a quoted repr text line
	opBINSTRING       = 'T' // Python 2 str with a 4-byte length
	opSHORT_BINSTRING = 'U' // Python 2 str with a 1-byte length
	opUNICODE         = 'V' // str as a raw-unicode-escape text line
	opBINUNICODE      = 'X' // str as UTF-8 with a 4-byte length
	opAPPEND          = 'a' // append stack[-1] to the list stack[-2]
	opBUILD           = 'b' // set the state stack[-1] on the object stack[-2]
	opGLOBAL          = 'c' // push the class named by two text lines: module, name
	opDICT            = 'd' // build a dict from key, value pairs above the mark
	opEMPTY_DICT      = '}' // push an empty dict
	opAPPENDS         = 'e' // extend the list below the mark with the items above it
	opGET             = 'g' // push memo[n], n as a text line
	opBINGET          = 'h' // push memo[n], n as 1 byte
	opINST            = 'i' // build an instance of a text-named class from the items above the mark
	opLONG_BINGET     = 'j' // push memo[n], n as 4 bytes
	opLIST            = 'l' // build a list from the items above the mark
	opEMPTY_LIST      = ']' // push an empty list
	opOBJ             = 'o' // build an instance of the class just above the mark
	opPUT             = 'p' // memo[n] = top of stack, n as a text line
	opBINPUT          = 'q' // memo[n] = top of stack, n as 1 byte
	opLONG_BINPUT     = 'r' // memo[n] = top of stack, n as 4 bytes
	opSETITEM         = 's' // dict stack[-3][stack[-2]] = stack[-1]
	opTUPLE           = 't' // build a tuple from the items above the mark
	opEMPTY_TUPLE     = ')' // push ()
	opSETITEMS        = 'u' // add the key, value pairs above the mark to the dict below it
	opBINFLOAT        = 'G' // float as 8-byte big-endian IEEE 754

	// Protocol 2.
	opPROTO    = '\x80' // protocol version as 1 byte; first opcode of a 2+ pickle
	opNEWOBJ   = '\x81' // cls.__new__(cls, *args) with cls, args on the stack
	opEXT1     = '\x82' // push the object registered under a 1-byte extension code
	opEXT2     = '\x83' // push the object registered under a 2-byte extension code
	opEXT4     = '\x84' // push the object registered under a 4-byte extension code
	opTUPLE1   = '\x85' // build a 1-tuple from the top of the stack
	opTUPLE2   = '\x86' // build a 2-tuple from the top two items
	opTUPLE3   = '\x87' // build a 3-tuple from the top three items
	opNEWTRUE  = '\x88' // push True
	opNEWFALSE = '\x89' // push False
	opLONG1    = '\x8a' // int as two's complement little-endian, 1-byte length
	opLONG4    = '\x8b' // int as two's complement little-endian, 4-byte length

	// Protocol 3.
	opBINBYTES       = 'B' // bytes with a 4-byte length
	opSHORT_BINBYTES = 'C' // bytes with a 1-byte length

	// Protocol 4.
	opSHORT_BINUNICODE = '\x8c' // str as UTF-8 with a 1-byte length
	opBINUNICODE8      = '\x8d' // str as UTF-8 with an 8-byte length
	opBINBYTES8        = '\x8e' // bytes with an 8-byte length
	opEMPTY_SET        = '\x8f' // push an empty set
	opADDITEMS         = '\x90' // add the items above the mark to the set below it
	opFROZENSET        = '\x91' // build a frozenset from the items above the mark
	opNEWOBJ_EX        = '\x92' // cls.__new__(cls, *args, **kwargs) from the stack
	opSTACK_GLOBAL     = '\x93' // push the class named by the two strs on the stack
	opMEMOIZE          = '\x94' // memo[len(memo)] = top of stack
	opFRAME            = '\x95' // the next n bytes (8-byte length) form one frame

	// Protocol 5.
	opBYTEARRAY8      = '\x96' // bytearray with an 8-byte length
	opNEXT_BUFFER     = '\x97' // push the next out-of-band buffer
	opREADONLY_BUFFER = '\x98' // make the buffer on top of the stack read-only
)

// opNames maps each opcode to its pickletools name, for error messages.
var opNames = [256]string{
	opMARK: "MARK", opSTOP: "STOP", opPOP: "POP", opPOP_MARK: "POP_MARK",
	opDUP: "DUP", opFLOAT: "FLOAT", opINT: "INT", opBININT: "BININT",
	opBININT1: "BININT1", opLONG: "LONG", opBININT2: "BININT2", opNONE: "NONE",
	opPERSID: "PERSID", opBINPERSID: "BINPERSID", opREDUCE: "REDUCE",
	opSTRING: "STRING", opBINSTRING: "BINSTRING", opSHORT_BINSTRING: "SHORT_BINSTRING",
	opUNICODE: "UNICODE", opBINUNICODE: "BINUNICODE", opAPPEND: "APPEND",
	opBUILD: "BUILD", opGLOBAL: "GLOBAL", opDICT: "DICT", opEMPTY_DICT: "EMPTY_DICT",
	opAPPENDS: "APPENDS", opGET: "GET", opBINGET: "BINGET", opINST: "INST",
	opLONG_BINGET: "LONG_BINGET", opLIST: "LIST", opEMPTY_LIST: "EMPTY_LIST",
	opOBJ: "OBJ", opPUT: "PUT", opBINPUT: "BINPUT", opLONG_BINPUT: "LONG_BINPUT",
	opSETITEM: "SETITEM", opTUPLE: "TUPLE", opEMPTY_TUPLE: "EMPTY_TUPLE",
	opSETITEMS: "SETITEMS", opBINFLOAT: "BINFLOAT",
	opPROTO: "PROTO", opNEWOBJ: "NEWOBJ", opEXT1: "EXT1", opEXT2: "EXT2",
	opEXT4: "EXT4", opTUPLE1: "TUPLE1", opTUPLE2: "TUPLE2", opTUPLE3: "TUPLE3",
	opNEWTRUE: "NEWTRUE", opNEWFALSE: "NEWFALSE", opLONG1: "LONG1", opLONG4: "LONG4",
	opBINBYTES: "BINBYTES", opSHORT_BINBYTES: "SHORT_BINBYTES",
	opSHORT_BINUNICODE: "SHORT_BINUNICODE", opBINUNICODE8: "BINUNICODE8",
	opBINBYTES8: "BINBYTES8", opEMPTY_SET: "EMPTY_SET", opADDITEMS: "ADDITEMS",
	opFROZENSET: "FROZENSET", opNEWOBJ_EX: "NEWOBJ_EX", opSTACK_GLOBAL: "STACK_GLOBAL",
	opMEMOIZE: "MEMOIZE", opFRAME: "FRAME",
	opBYTEARRAY8: "BYTEARRAY8", opNEXT_BUFFER: "NEXT_BUFFER",
	opREADONLY_BUFFER: "READONLY_BUFFER",
}
