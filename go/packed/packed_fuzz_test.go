package packed

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzPacked feeds arbitrary bytes to both decoders (they must not panic,
// and what they accept must encode back to the same bytes) and round-trips
// records and items built from the other arguments.
func FuzzPacked(f *testing.F) {
	res, _ := AppendResults(nil, sampleRecords())
	items, _ := AppendItems(nil, []Item{{Bucket: "b", Key: "k", Size: 3}})
	f.Add(res, uint64(1), uint64(0x1000), uint64(10), "bkt", "key", []byte(nil), int64(10))
	etagItems, _ := AppendItems(nil, []Item{{Bucket: "b", Key: "k", Size: 3, ETag: `"e"`}, {Bucket: "b", Key: "j"}})
	f.Add(etagItems, uint64(0), uint64(0), uint64(0), "b", "k", []byte(nil), int64(3))
	f.Add(items, uint64(0), uint64(0), uint64(0), "", "m/1", []byte(`{"kind":"network"}`), int64(0))
	f.Add([]byte("OSB1\x01\x00\x00\x00"), uint64(0), uint64(0), uint64(0), "", "", []byte(nil), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, index, ptr, n uint64, bucket, key string, errJSON []byte, size int64) {
		if recs, err := DecodeResults(data); err == nil {
			again, err := AppendResults(nil, recs)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("results decoded from %x encode to %x (%v)", data, again, err)
			}
		}
		if its, err := DecodeItems(data); err == nil {
			again, err := AppendItems(nil, its)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("items decoded from %x encode to %x (%v)", data, again, err)
			}
		}

		r := Record{Index: index, BodyPtr: ptr, BodyLen: n, Bucket: bucket, Key: key}
		if len(errJSON) > 0 {
			r = Record{Index: index, Flags: FlagError, Bucket: bucket, Key: key, Error: errJSON}
		} else if ptr == 0 || n == 0 {
			r.BodyPtr, r.BodyLen = 0, 0
		}
		recs := []Record{r, {Index: index + 1, Key: bucket}, r}
		enc, err := AppendResults(nil, recs)
		if err != nil {
			t.Fatalf("valid records refused: %v", err)
		}
		got, err := DecodeResults(enc)
		if err != nil || !reflect.DeepEqual(got, recs) {
			t.Fatalf("records %+v came back as %+v (%v)", recs, got, err)
		}

		it := []Item{{Bucket: bucket, Key: key, Size: size}, {Key: string(errJSON)}}
		enc, err = AppendItems(nil, it)
		if size < 0 {
			if err == nil {
				t.Fatalf("negative size %d accepted", size)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid items refused: %v", err)
		}
		back, err := DecodeItems(enc)
		if err != nil || !reflect.DeepEqual(back, it) {
			t.Fatalf("items %+v came back as %+v (%v)", it, back, err)
		}
		it[1].ETag = bucket // with ETags (OSI2) when bucket is not empty
		enc, err = AppendItems(nil, it)
		if err != nil {
			t.Fatalf("valid items refused: %v", err)
		}
		back, err = DecodeItems(enc)
		if err != nil || !reflect.DeepEqual(back, it) {
			t.Fatalf("items %+v came back as %+v (%v)", it, back, err)
		}
	})
}
