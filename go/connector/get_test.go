package connector

import (
	"bytes"
	"errors"
	"testing"

	"osstorchconnector/go/ossemu"
)

func TestGetChecksCRCAndResumes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	data := pattern(3<<20, 1)
	e.put(t, c, "obj", data)

	// a reset mid-body: the read resumes from where it broke
	e.faults(t, ossemu.Faults{Seed: 1, ResetRate: 1, ResetAfterBytes: 1 << 20, Ops: []string{"GetObject"}, FaultLimit: 1})
	got, err := c.Get(bg, tBucket, "obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reset: err %v, equal %v", err, bytes.Equal(got, data))
	}
	// a truncated body, likewise
	e.faults(t, ossemu.Faults{Seed: 2, TruncateRate: 1, TruncateAfterBytes: 777, Ops: []string{"GetObject"}, FaultLimit: 2})
	if got, err = c.Get(bg, tBucket, "obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after truncation: %v", err)
	}
	// a flipped byte once: caught by the CRC, read again, correct
	e.faults(t, ossemu.Faults{Seed: 3, FlipRate: 1, Ops: []string{"GetObject"}, FaultLimit: 1})
	if got, err = c.Get(bg, tBucket, "obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after one flip: %v", err)
	}
	// flipped every time: an integrity error, never corrupt bytes
	e.faults(t, ossemu.Faults{Seed: 4, FlipRate: 1, Ops: []string{"GetObject"}})
	got, err = c.Get(bg, tBucket, "obj")
	if !errors.Is(err, ErrIntegrity) || got != nil || kindOf(err) != KindNetwork {
		t.Fatalf("persistent flips: got %d bytes, err %v", len(got), err)
	}
	e.faults(t, ossemu.Faults{})
	// missing object: not found, with OSS's code and request id
	_, err = c.Get(bg, tBucket, "nope")
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != KindNotFound || ce.Code != "NoSuchKey" || ce.RequestID == "" || ce.Status != 404 {
		t.Fatalf("missing: %v", err)
	}
}

func TestReadRange(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	data := pattern(100000, 2)
	e.put(t, c, "r", data)
	buf := make([]byte, 1000)
	n, err := c.ReadRange(bg, tBucket, "r", 5000, buf)
	if err != nil || n != 1000 || !bytes.Equal(buf, data[5000:6000]) {
		t.Fatalf("range: %d %v", n, err)
	}
	n, err = c.ReadRange(bg, tBucket, "r", 99500, buf)
	if err != nil || n != 500 || !bytes.Equal(buf[:n], data[99500:]) {
		t.Fatalf("tail: %d %v", n, err)
	}
	n, err = c.ReadRange(bg, tBucket, "r", 200000, buf)
	if err != nil || n != 0 {
		t.Fatalf("past end: %d %v", n, err)
	}
}
