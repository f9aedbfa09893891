package pyapi

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/goserve"

	"github.com/gompx/gompx/gompx"
)

func spec(fields ...string) []byte { return []byte(strings.Join(fields, "\x00") + "\x00") }

func TestParseProcessSpec(t *testing.T) {
	tests := []struct {
		name    string
		spec    []byte
		want    gompx.Cmd
		wantErr string
	}{
		{
			name: "full",
			spec: spec("/py", "/tmp", "1", "2", "5", "7", "2", "py", "-c", "1", "A=b"),
			want: gompx.Cmd{Path: "/py", Dir: "/tmp", KillWithParent: true, Files: []int{5, 7},
				Args: []string{"py", "-c"}, Env: []string{"A=b"}, Stdout: 1, Stderr: 2},
		},
		{
			name: "empty lists",
			spec: spec("/py", "", "0", "0", "0", "0"),
			want: gompx.Cmd{Path: "/py", Args: []string{}, Env: []string{}, Stdout: 1, Stderr: 2},
		},
		{name: "truncated", spec: spec("/py", ""), wantErr: "truncated"},
		{name: "count past the end", spec: spec("/py", "", "0", "9", "1"), wantErr: "bad count"},
		{name: "negative fd", spec: spec("/py", "", "0", "1", "-3", "0", "0"), wantErr: "bad descriptor"},
		{name: "trailing fields", spec: spec("/py", "", "0", "0", "0", "0", "x"), wantErr: "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcessSpec(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

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
		got, err := ParseGoPoolSpec(tt.spec)
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
