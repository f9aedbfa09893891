// Package fptest runs the kill tests of the failpoint package's points: the test binary
// re-executed as a child, with a shared file at its fd 3 and a failpoint armed, and the
// check that the failpoint, not something else, ended it. Tests only.
package fptest
