package pyapi

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/gompx/gompx/gompx"
)

// ParseInts reads a comma-separated list of integers ("" is none).
func ParseInts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	fields := strings.Split(s, ",")
	out := make([]int, len(fields))
	for i, f := range fields {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, badInput("bad integer list %q: %v", s, err)
		}
		out[i] = v
	}
	return out, nil
}

// JoinInts writes vals as ParseInts reads them.
func JoinInts(vals []int) string {
	b := make([]byte, 0, 8*len(vals))
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return string(b)
}

// ExportConn describes c for a child process as "fd,fd,...;state": the descriptors the
// child must inherit, then an opaque state. The child passes the same string to
// ImportConn with the descriptors replaced by its own numbers.
func ExportConn(c *gompx.Conn) (string, error) {
	state := c.State()
	text, err := state.MarshalText()
	if err != nil {
		return "", err
	}
	return JoinInts(state.Fds()) + ";" + string(text), nil
}

// ImportConn rebuilds a connection from ExportConn's string, with the descriptors as
// this process numbers them. The connection owns them.
func ImportConn(exported string) (*gompx.Conn, error) {
	fdList, text, ok := strings.Cut(exported, ";")
	if !ok {
		return nil, badInput("bad connection state %q", exported)
	}
	fds, err := ParseInts(fdList)
	if err != nil {
		return nil, err
	}
	var state gompx.ConnState
	if err := state.UnmarshalText([]byte(text)); err != nil {
		return nil, badInput("bad connection state: %v", err)
	}
	if state, err = state.WithFds(fds); err != nil {
		return nil, badInput("bad connection state: %v", err)
	}
	return gompx.ConnFromState(state)
}

// Network is gompx's network for one of multiprocessing's family names.
func Network(family string) (string, error) {
	switch family {
	case "AF_UNIX":
		return "unix", nil
	case "AF_INET":
		return "tcp", nil
	}
	return "", badInput("Family %s is not recognized.", family)
}

// Addresses cross as hex: a Python str is passed as a C string, so the NUL that starts
// a Linux abstract socket name (and any NUL inside one) would cut it short.

// CoreAddress is the network and address in gompx's form of a Python address of
// family, hex-encoded (an fsencoded path, b"\0name", or "ip:port" for AF_INET).
func CoreAddress(family, addrHex string) (network, addr string, err error) {
	if network, err = Network(family); err != nil {
		return "", "", err
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil {
		return "", "", badInput("bad address encoding: %v", err)
	}
	addr = string(raw)
	if network == "unix" && strings.HasPrefix(addr, "@") {
		addr = "./" + addr // a file named @...; gompx reads a leading @ as an abstract name
	}
	return network, addr, nil
}

// PyAddress is a core address, hex-encoded, with an abstract name's "@" turned back
// into the NUL Python uses.
func PyAddress(network, addr string) string {
	if network == "unix" && strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	return hex.EncodeToString([]byte(addr))
}

// AuthSteps reads the order of a handshake's halves: "D" deliver_challenge, "A"
// answer_challenge ("DA": Listener.accept, "AD": Client).
func AuthSteps(steps string) ([]gompx.AuthStep, error) {
	var order []gompx.AuthStep
	for _, s := range steps {
		switch s {
		case 'D':
			order = append(order, gompx.DeliverStep)
		case 'A':
			order = append(order, gompx.AnswerStep)
		default:
			return nil, badInput("bad handshake steps %q", steps)
		}
	}
	return order, nil
}
