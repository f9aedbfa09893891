package pyapi

import "github.com/gompx/gompx/gompx/internal/failpoint"

// CFailpoints are the armed failpoints of the C fast paths (names starting with "c",
// see the failpoint package's Points) as "kill@N" or "stall@N": GOMPX_FAILPOINTS is
// parsed once, by the failpoint package, and the facade hands this to the C extension.
// Empty in a build without the gompx_failpoints tag.
func CFailpoints() map[string]string { return failpoint.Actions("c") }
