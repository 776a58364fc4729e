package benchmsg

import (
	"testing"

	pb "github.com/ringrpc/ringrpc/bench-harness/go/proto"
	"google.golang.org/protobuf/proto"
)

func TestSizes(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}

func TestShallowCopyCoversEveryField(t *testing.T) {
	src := NewRequest()
	src.Field5 = []uint64{1, 2, 3}
	var dst pb.BenchmarkMessage
	ShallowCopy(&dst, src)
	if !proto.Equal(&dst, src) {
		t.Fatal("ShallowCopy missed a field")
	}
	if n := src.ProtoReflect().Descriptor().Fields().Len(); n != 40 {
		t.Fatalf("BenchmarkMessage has %d fields, want 40", n)
	}
}
