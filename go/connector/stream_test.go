package connector

import (
	"bytes"
	"io"
	"testing"

	"osstorchconnector/go/ossemu"
)

func TestStreamResumesAfterResets(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":1048576`)
	data := pattern(5<<20+99, 11)
	e.put(t, c, "stream", data)
	e.faults(t, ossemu.Faults{Seed: 12, ResetRate: 0.5, ResetAfterBytes: 300000, Ops: []string{"GetObject"}, FaultLimit: 4})
	s, err := c.OpenStream(bg, tBucket, "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) || s.Size() != int64(len(data)) {
		t.Fatalf("stream: %d bytes, err %v", len(got), err)
	}
	if e.srv.Stats().FaultsInjected == 0 {
		t.Fatal("no fault was injected: the test proves nothing")
	}
}
