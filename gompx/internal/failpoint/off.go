//go:build !gompx_failpoints

package failpoint

// Enabled reports whether this build has failpoints (the gompx_failpoints tag).
const Enabled = false

// Inject does nothing in a build without the gompx_failpoints tag; the compiler inlines
// it away.
func Inject(string) error { return nil }

// Hit does nothing in a build without the gompx_failpoints tag.
func Hit(string) {}

// Actions lists nothing in a build without the gompx_failpoints tag.
func Actions(string) map[string]string { return nil }
