//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package pidfd

// SiginfoChild is siginfo_t as waitid(2) fills it for a child: the common
// header, then the _sigchld member of the union. See the package table.
type SiginfoChild struct {
	Signo  int32 // SIGCHLD, or 0 when WNOHANG found no exited child
	Errno  int32 // always 0 for waitid
	Code   int32 // CLD_EXITED, CLD_KILLED, CLD_DUMPED
	_      [unionPad]byte
	Pid    int32  // the child's pid, or 0 when WNOHANG found none
	Uid    uint32 // the child's real uid
	Status int32  // exit status for CLD_EXITED, else the signal number
	_      [siginfoSize - 3*4 - unionPad - 3*4]byte
}
