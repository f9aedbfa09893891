package gompxcore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/goserve"
)

func TestParseGoPoolSpec(t *testing.T) {
	tests := []struct {
		name    string
		spec    []byte
		want    goserve.Options
		wantErr string
	}{
		{
			name: "full",
			spec: spec("/bin/w", "/tmp", "4", "1500", "2", "-v", "x", "1", "A=b"),
			want: goserve.Options{Path: "/bin/w", Dir: "/tmp", Workers: 4, StartTimeout: 1500 * time.Millisecond,
				Args: []string{"-v", "x"}, Env: []string{"A=b"}},
		},
		{
			name: "empty lists",
			spec: spec("/bin/w", "", "1", "1", "0", "0"),
			want: goserve.Options{Path: "/bin/w", Workers: 1, StartTimeout: time.Millisecond, Args: []string{}, Env: []string{}},
		},
		{name: "truncated", spec: spec("/bin/w", "", "1"), wantErr: "truncated"},
		{name: "no env count", spec: spec("/bin/w", "", "1", "1", "1", "-v"), wantErr: "truncated"},
		{name: "zero workers", spec: spec("/bin/w", "", "0", "1", "0", "0"), wantErr: "bad workers"},
		{name: "count past the end", spec: spec("/bin/w", "", "1", "1", "5", "a", "0"), wantErr: "bad count"},
		{name: "trailing", spec: spec("/bin/w", "", "1", "1", "0", "0", "extra"), wantErr: "trailing"},
	}
	for _, tt := range tests {
		got, err := parseGoPoolSpec(tt.spec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

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
