// Package pidfd wraps the Linux process-file-descriptor calls that gompx's
// process supervision is built on: waitid(2) on a pidfd with the SIGCHLD
// fields of siginfo_t decoded, pidfd_open(2), and a poll(2) on one
// descriptor with a timeout.
//
// The wrappers are thin, in the x/sys manner: kernel names in Go case,
// parameters as in the man pages, and the raw unix.Errno returned
// unchanged. Only PollIn adds behaviour: it retries EINTR with the time
// that remains.
//
// The defining table is siginfo_t as waitid(2) fills it for a child
// (SiginfoChild, 128 bytes on every architecture):
//
//	offset (64-bit / 32-bit)  field      meaning
//	0                         si_signo   SIGCHLD when a child was reported; 0 when WNOHANG found none
//	4                         si_errno   always 0 for waitid
//	8                         si_code    CLD_EXITED, CLD_KILLED or CLD_DUMPED (WEXITED only)
//	16 / 12                   si_pid     the child's pid; 0 when WNOHANG found none
//	20 / 16                   si_uid     the child's real uid
//	24 / 20                   si_status  exit status for CLD_EXITED, else the signal number
//
// On MIPS si_code and si_errno trade places; siginfo_mipsx.go has that
// layout.
//
// What it does not do: it does not fork, keep state, start goroutines, or
// decide what an exit status means to a caller. waitid on a pidfd
// (P_PIDFD) needs Linux 5.4; pidfd_open needs Linux 5.3; callers see
// ENOSYS or EINVAL on older kernels.
package pidfd
