package packed

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func sampleRecords() []Record {
	return []Record{
		{Index: 7, BodyPtr: 0x7f0000001000, BodyLen: 5000, Bucket: "bkt", Key: "train/0007.jpg"},
		{Index: 8, Bucket: "bkt", Key: "train/empty"},
		{Index: 1 << 40, Flags: FlagError, Bucket: "bkt", Key: "train/gone", Error: []byte(`{"kind":"not_found","message":"x"}`)},
		{Index: 0, BodyPtr: 1, BodyLen: 1, Key: "m/000.bin"}, // a tar member: no bucket
	}
}

func TestResultsLayoutIsExactlyAsSpecified(t *testing.T) {
	recs := sampleRecords()[:1]
	b, err := AppendResults(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	want := []byte("OSB1")
	want = le.AppendUint32(want, 1)
	want = le.AppendUint64(want, 7)
	want = le.AppendUint64(want, 0x7f0000001000)
	want = le.AppendUint64(want, 5000)
	want = le.AppendUint32(want, 3)
	want = le.AppendUint32(want, 14)
	want = le.AppendUint32(want, 0)
	want = le.AppendUint32(want, 0)
	want = append(want, "bkttrain/0007.jpg"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", b, want)
	}
	if len(want) != HeaderSize+RecordSize+17 {
		t.Fatalf("the constants do not describe the layout")
	}
}

func TestResultsRoundTrip(t *testing.T) {
	for _, recs := range [][]Record{nil, sampleRecords()} {
		b, err := AppendResults(nil, recs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeResults(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, recs) {
			t.Fatalf("decoded %+v\nwant %+v", got, recs)
		}
	}
}

func TestResultsEncoderRefusesWhatTheLayoutForbids(t *testing.T) {
	for name, r := range map[string]Record{
		"error without flag":  {Error: []byte("{}")},
		"flag without error":  {Flags: FlagError},
		"error with a body":   {Flags: FlagError, Error: []byte("{}"), BodyPtr: 1, BodyLen: 1},
		"length without body": {BodyLen: 3},
		"body without length": {BodyPtr: 3},
		"unknown flag":        {Flags: 2},
	} {
		if _, err := AppendResults(nil, []Record{r}); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestResultsDecoderRejectsDamage(t *testing.T) {
	good, _ := AppendResults(nil, sampleRecords())
	cases := map[string][]byte{
		"empty":         nil,
		"short header":  good[:7],
		"bad magic":     append([]byte("XSB1"), good[4:]...),
		"truncated":     good[:len(good)-1],
		"trailing byte": append(append([]byte(nil), good...), 0),
		"huge count":    append(append([]byte("OSB1"), 0xff, 0xff, 0xff, 0xff), good[8:]...),
		"items magic":   append([]byte("OSI1"), good[4:]...),
	}
	long := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(long[HeaderSize+28:], 1<<31) // key_len of record 0
	cases["string past the end"] = long
	for name, b := range cases {
		if _, err := DecodeResults(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestItemsRoundTripAndLayout(t *testing.T) {
	items := []Item{{Bucket: "b", Key: "k1", Size: 10}, {Bucket: "other", Key: "", Size: 0}}
	b, err := AppendItems(nil, items)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	want := le.AppendUint32([]byte("OSI1"), 2)
	want = le.AppendUint64(le.AppendUint32(le.AppendUint32(want, 1), 2), 10)
	want = le.AppendUint64(le.AppendUint32(le.AppendUint32(want, 5), 0), 0)
	want = append(want, "bk1other"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", b, want)
	}
	got, err := DecodeItems(b)
	if err != nil || !reflect.DeepEqual(got, items) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := AppendItems(nil, []Item{{Size: -1}}); !errors.Is(err, ErrFormat) {
		t.Fatalf("negative size: %v", err)
	}
	neg := append([]byte(nil), b...)
	le.PutUint64(neg[HeaderSize+8:], 1<<63)
	for _, bad := range [][]byte{neg, b[:len(b)-1], append(append([]byte(nil), b...), 'x'), b[:4]} {
		if _, err := DecodeItems(bad); !errors.Is(err, ErrFormat) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
}

func TestItemsWithETags(t *testing.T) {
	items := []Item{{Bucket: "b", Key: "k1", Size: 10, ETag: `"E1"`}, {Bucket: "b", Key: "k2"}}
	b, err := AppendItems(nil, items)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	want := le.AppendUint32([]byte("OSI2"), 2)
	want = le.AppendUint32(le.AppendUint32(le.AppendUint64(le.AppendUint32(le.AppendUint32(want, 1), 2), 10), 4), 0)
	want = le.AppendUint32(le.AppendUint32(le.AppendUint64(le.AppendUint32(le.AppendUint32(want, 1), 2), 0), 0), 0)
	want = append(want, `bk1"E1"bk2`...)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", b, want)
	}
	got, err := DecodeItems(b)
	if err != nil || !reflect.DeepEqual(got, items) {
		t.Fatalf("%+v %v", got, err)
	}
	reserved := append([]byte(nil), b...)
	reserved[HeaderSize+20] = 1
	noETag := le.AppendUint32([]byte("OSI2"), 1)
	noETag = append(le.AppendUint32(le.AppendUint32(le.AppendUint64(le.AppendUint32(le.AppendUint32(noETag, 1), 1), 0), 0), 0), "bk"...)
	for _, bad := range [][]byte{reserved, noETag, b[:len(b)-1]} {
		if _, err := DecodeItems(bad); !errors.Is(err, ErrFormat) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
}
