package connector

import (
	"context"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"osstorchconnector/go/fastcrc"
)

// OSS answers a ranged GET with the CRC-64 of the whole object, never of the
// range, so a reader that reads an object out of order (torch.load, DCP,
// safetensors) has nothing to check a range against until it has read all of
// it. The Writer therefore stores, beside every object it uploads in parts,
// a small "part checksum file" (key + PartChecksumSuffix) listing each part's
// size and CRC-64, which it has from OSS's own answers. A Reader that finds
// one matching the object (same size, part CRCs combining to the object's
// CRC-64) checks every part before any of its bytes leave the reader.
//
// A file left by an earlier object under the key cannot pass for the
// object's: it names the object's size and CRC-64, and both must match.
// Objects written in one PUT need none (a reader fetches them whole when it
// can, see Reader).

// PartChecksumSuffix is appended to an object's key to name its part
// checksum file.
const PartChecksumSuffix = ".osstorch-crc64"

const partChecksumFormat = "osstorchconnector/part-crc64/1"

// partChecksumFile is the file's JSON. CRC-64s are decimal strings, as OSS
// writes them in x-oss-hash-crc64ecma (a JSON number would lose bits in
// tools that read numbers as doubles).
type partChecksumFile struct {
	Format string   `json:"format"`
	Size   int64    `json:"size"`
	CRC64  string   `json:"crc64"`
	Sizes  []int64  `json:"partSizes"`
	CRC64s []string `json:"partCrc64"`
}

// partSum is one part: its size and CRC-64.
type partSum struct {
	size int64
	crc  uint64
}

func combineParts(parts []partSum) uint64 {
	var total uint64
	for _, p := range parts {
		total = fastcrc.Combine(total, p.crc, p.size)
	}
	return total
}

// encodePartChecksums writes the file of an object with these parts and
// CRC-64 (combineParts(parts), which the writer has computed already).
func encodePartChecksums(parts []partSum, whole uint64) ([]byte, error) {
	f := partChecksumFile{Format: partChecksumFormat, CRC64: strconv.FormatUint(whole, 10),
		Sizes: make([]int64, len(parts)), CRC64s: make([]string, len(parts))}
	for i, p := range parts {
		f.Size += p.size
		f.Sizes[i] = p.size
		f.CRC64s[i] = strconv.FormatUint(p.crc, 10)
	}
	return jsonAPI.Marshal(&f)
}

// decodePartChecksums parses a part checksum file and checks that it
// describes an object of the given size and CRC-64.
func decodePartChecksums(data []byte, size int64, crc uint64) ([]partSum, error) {
	var f partChecksumFile
	if err := jsonAPI.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a part checksum file: %w", err)
	}
	if f.Format != partChecksumFormat {
		return nil, fmt.Errorf("unknown part checksum format %q", f.Format)
	}
	if len(f.Sizes) != len(f.CRC64s) || len(f.Sizes) == 0 || len(f.Sizes) > MaxParts {
		return nil, fmt.Errorf("%d part sizes and %d CRC-64s", len(f.Sizes), len(f.CRC64s))
	}
	parts := make([]partSum, len(f.Sizes))
	var total int64
	for i := range parts {
		v, err := strconv.ParseUint(f.CRC64s[i], 10, 64)
		if err != nil || f.Sizes[i] <= 0 || f.Sizes[i] > MaxPartSize {
			return nil, fmt.Errorf("part %d: size %d, crc64 %q", i+1, f.Sizes[i], f.CRC64s[i])
		}
		parts[i] = partSum{f.Sizes[i], v}
		total += f.Sizes[i]
	}
	if total != size || f.Size != size {
		return nil, fmt.Errorf("describes %d bytes, the object has %d", total, size)
	}
	if f.CRC64 != strconv.FormatUint(crc, 10) {
		return nil, fmt.Errorf("describes crc64 %s, the object has %d", f.CRC64, crc)
	}
	// Parts that do not add up to the whole (a file edited by hand) could
	// only make good bytes fail their check, never let bad ones through;
	// ignoring such a file keeps those reads working (checked as a whole).
	if got := combineParts(parts); got != crc {
		return nil, fmt.Errorf("part crc64s combine to %d, the object has %d", got, crc)
	}
	return parts, nil
}

// writePartChecksums stores the part checksum file of a completed object.
// It is an aid to readers, not part of the object: failing to write it (a
// policy that allows only the object's own key, say) is logged, not returned.
func (c *Client) writePartChecksums(ctx context.Context, bucket, key string, parts []partSum, whole uint64) {
	data, err := encodePartChecksums(parts, whole)
	if err == nil {
		err = c.Put(ctx, bucket, key+PartChecksumSuffix, data)
	}
	if err != nil {
		c.log.Warn("part checksum file not written: readers will check this object only once they have read all of it",
			zapKey(bucket, key+PartChecksumSuffix), zapErr(err))
	}
}

// readPartChecksums returns the parts of an object from its part checksum
// file, or nil when there is none that matches it.
func (c *Client) readPartChecksums(ctx context.Context, bucket, key string, size int64, crc uint64) []partSum {
	data, err := c.Get(ctx, bucket, key+PartChecksumSuffix)
	if err != nil {
		if !isNotFound(err) {
			c.log.Info("part checksum file not read", zapKey(bucket, key+PartChecksumSuffix), zapErr(err))
		}
		return nil
	}
	parts, err := decodePartChecksums(data, size, crc)
	if err != nil {
		// A file left from an earlier object under this key, or not ours.
		c.log.Info("part checksum file does not match the object: ignored", zapKey(bucket, key+PartChecksumSuffix),
			zap.String("reason", err.Error()))
		return nil
	}
	return parts
}
