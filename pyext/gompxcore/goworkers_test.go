package gompxcore

import (
	"testing"
)

func TestGoTaskHandlesRefuseStrangers(t *testing.T) {
	if _, err := GoTaskWait(-5, 0); err == nil {
		t.Error("GoTaskWait of an unknown handle succeeded")
	}
	if _, err := GoPoolSubmit(-5, "f", false, 0, 0); err == nil {
		t.Error("GoPoolSubmit on an unknown pool succeeded")
	}
	if ok, err := GoPoolRelease(-5); !ok || err != nil {
		t.Errorf("GoPoolRelease of an unknown handle: %v, %v; want a no-op", ok, err)
	}
}
