package pickle

// Python 2 names. Protocols 0-2 are readable by Python 2, so CPython writes
// some classes under their Python 2 names there and maps them back on
// reading (Lib/_compat_pickle.py). The package does the same for the
// builtins, exceptions and copyreg modules; other renamed modules (queue,
// socketserver, ...) keep their Python 3 names.

// py2Exceptions are the builtin exceptions that Python 2 kept in its
// exceptions module.
var py2Exceptions = map[string]bool{}

// py3OSErrors are the OSError subclasses new in Python 3; CPython writes
// them as exceptions.OSError at protocol 2.
var py3OSErrors = map[string]bool{}

func init() {
	for _, n := range []string{
		"ArithmeticError", "AssertionError", "AttributeError", "BaseException",
		"BufferError", "BytesWarning", "DeprecationWarning", "EOFError",
		"EnvironmentError", "Exception", "FloatingPointError", "FutureWarning",
		"GeneratorExit", "IOError", "ImportError", "ImportWarning",
		"IndentationError", "IndexError", "KeyError", "KeyboardInterrupt",
		"LookupError", "MemoryError", "NameError", "NotImplementedError",
		"OSError", "OverflowError", "PendingDeprecationWarning", "ReferenceError",
		"RuntimeError", "RuntimeWarning", "StopIteration", "SyntaxError",
		"SyntaxWarning", "SystemError", "SystemExit", "TabError", "TypeError",
		"UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError",
		"UnicodeError", "UnicodeTranslateError", "UnicodeWarning", "UserWarning",
		"ValueError", "Warning", "ZeroDivisionError",
	} {
		py2Exceptions[n] = true
	}
	for _, n := range []string{
		"BrokenPipeError", "ChildProcessError", "ConnectionAbortedError",
		"ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
		"FileExistsError", "FileNotFoundError", "InterruptedError",
		"IsADirectoryError", "NotADirectoryError", "PermissionError",
		"ProcessLookupError", "TimeoutError",
	} {
		py3OSErrors[n] = true
	}
}

// py3to2Builtins are builtins renamed in Python 3.
var py3to2Builtins = map[string]Class{
	"chr":                 {"__builtin__", "unichr"},
	"int":                 {"__builtin__", "long"},
	"range":               {"__builtin__", "xrange"},
	"str":                 {"__builtin__", "unicode"},
	"filter":              {"itertools", "ifilter"},
	"map":                 {"itertools", "imap"},
	"zip":                 {"itertools", "izip"},
	"ModuleNotFoundError": {"exceptions", "ImportError"},
}

// py2Name is the name CPython writes for c at protocols below 3.
func py2Name(c Class) Class {
	switch c.Module {
	case "builtins":
		if py2Exceptions[c.Name] {
			return Class{"exceptions", c.Name}
		}
		if py3OSErrors[c.Name] {
			return Class{"exceptions", "OSError"}
		}
		if m, ok := py3to2Builtins[c.Name]; ok {
			return m
		}
		return Class{"__builtin__", c.Name}
	case "copyreg":
		return Class{"copy_reg", c.Name}
	}
	return c
}

// py2to3Names are Python 2 names read back under other Python 3 names.
var py2to3Names = map[Class]Class{
	{"__builtin__", "xrange"}:       {"builtins", "range"},
	{"__builtin__", "unicode"}:      {"builtins", "str"},
	{"__builtin__", "basestring"}:   {"builtins", "str"},
	{"__builtin__", "long"}:         {"builtins", "int"},
	{"__builtin__", "unichr"}:       {"builtins", "chr"},
	{"__builtin__", "reduce"}:       {"functools", "reduce"},
	{"__builtin__", "intern"}:       {"sys", "intern"},
	{"exceptions", "StandardError"}: {"builtins", "Exception"},
	{"itertools", "ifilter"}:        {"builtins", "filter"},
	{"itertools", "imap"}:           {"builtins", "map"},
	{"itertools", "izip"}:           {"builtins", "zip"},
}

// py3Name is the Python 3 name of a class read from a protocol 0-2 pickle.
func py3Name(c Class) Class {
	if m, ok := py2to3Names[c]; ok {
		return m
	}
	switch c.Module {
	case "__builtin__", "exceptions":
		return Class{"builtins", c.Name}
	case "copy_reg":
		return Class{"copyreg", c.Name}
	}
	return c
}
