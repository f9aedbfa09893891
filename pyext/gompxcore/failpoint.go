package gompxcore

import (
	"encoding/json"

	"github.com/gompx/gompx/gompx/pyapi"
)

// FailpointActions is the JSON object {point: "kill@N" | "stall@N" | "error@N"} of the
// armed failpoints of the C fast paths (names starting with "c"), from GOMPX_FAILPOINTS
// as the Go core parsed it: the package hands them to its C extension when it loads, so
// that one parser reads the spec. "{}" in a build without failpoints.
func FailpointActions() (actions string, err error) {
	defer recoverInto(&err)
	b, err := json.Marshal(pyapi.CFailpoints())
	if err != nil {
		return "", newPyError(ErrKindRuntimeError, "%v", err)
	}
	return string(b), nil
}
