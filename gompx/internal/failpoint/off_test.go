//go:build !gompx_failpoints

package failpoint

import "testing"

// Without the tag nothing fires, whatever the environment says.
func TestDisabledInjectsNothing(t *testing.T) {
	t.Setenv(Env, "shm/create=error")
	for name := range Points {
		Hit(name)
		if err := Inject(name); err != nil {
			t.Fatalf("Inject(%q) = %v in a build without failpoints", name, err)
		}
	}
}
