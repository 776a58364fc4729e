package vectors

import (
	"bytes"
	"testing"
)

func TestBuild(t *testing.T) {
	vs, pairs, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, v := range vs {
		names[v.Name] = true
		if _, err := Describe(v); err != nil {
			t.Error(err)
		}
	}
	for _, p := range pairs {
		if !names[p.Request] || (p.Response != "" && !names[p.Response]) {
			t.Errorf("pair %v names a missing vector", p)
		}
	}
	again, _, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	for i := range vs {
		if !bytes.Equal(vs[i].Frame, again[i].Frame) {
			t.Errorf("%s is not deterministic", vs[i].Name)
		}
	}
}
