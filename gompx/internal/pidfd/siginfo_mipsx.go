//go:build linux && (mips || mipsle || mips64 || mips64le)

package pidfd

// SiginfoChild is siginfo_t as waitid(2) fills it for a child. MIPS puts
// si_code before si_errno; otherwise it is the layout of siginfo.go.
type SiginfoChild struct {
	Signo  int32 // SIGCHLD, or 0 when WNOHANG found no exited child
	Code   int32 // CLD_EXITED, CLD_KILLED, CLD_DUMPED
	Errno  int32 // always 0 for waitid
	_      [unionPad]byte
	Pid    int32  // the child's pid, or 0 when WNOHANG found none
	Uid    uint32 // the child's real uid
	Status int32  // exit status for CLD_EXITED, else the signal number
	_      [siginfoSize - 3*4 - unionPad - 3*4]byte
}
