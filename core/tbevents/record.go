package tbevents

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// ErrCorrupt marks a record whose checksum does not match or whose
// content is not an Event: the file is damaged from there on (TFRecord
// files cannot be resynchronised after a bad record), so readers stop.
var ErrCorrupt = errors.New("corrupt event record")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's checksum: CRC32C, rotated right by 15 bits and
// offset, so that a checksum stored next to the data it covers is not
// itself a likely CRC of data containing it.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// appendRecord frames data as one TFRecord and appends it to dst.
func appendRecord(dst, data []byte) []byte {
	var length [8]byte
	binary.LittleEndian.PutUint64(length[:], uint64(len(data)))
	dst = append(dst, length[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, maskedCRC(length[:]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, maskedCRC(data))
}

// scanRecords calls fn with the offset and data of each complete record
// of the file at path. A file that ends mid-record (a writer killed, or
// still writing) ends cleanly at the last complete record. A checksum
// mismatch ends the scan too; it is returned as corrupt (wrapping
// ErrCorrupt) so that callers can choose to keep what came before, and so
// is an error from fn that wraps ErrCorrupt (a record that is not an
// Event). err is for failures to read the file and other errors from fn.
func scanRecords(path string, fn func(offset int64, data []byte) error) (corrupt, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tbevents: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tbevents: %w", err)
	}
	size := st.Size()
	r := bufio.NewReaderSize(f, 64<<10)
	var off int64
	var header [12]byte
	for {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, nil
			}
			return nil, fmt.Errorf("tbevents: read %s: %w", path, err)
		}
		if maskedCRC(header[:8]) != binary.LittleEndian.Uint32(header[8:]) {
			return fmt.Errorf("%w: %s at offset %d: length checksum mismatch", ErrCorrupt, path, off), nil
		}
		n := binary.LittleEndian.Uint64(header[:8])
		if rest := size - off - 16; rest < 0 || n > uint64(rest) {
			// The length is genuine (its checksum matched), so the data was
			// cut short: a tail the writer did not finish.
			return nil, nil
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(r, data); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, nil
			}
			return nil, fmt.Errorf("tbevents: read %s: %w", path, err)
		}
		data, sum := data[:n], binary.LittleEndian.Uint32(data[n:])
		if maskedCRC(data) != sum {
			return fmt.Errorf("%w: %s at offset %d: data checksum mismatch", ErrCorrupt, path, off), nil
		}
		if err := fn(off, data); err != nil {
			if errors.Is(err, ErrCorrupt) {
				return err, nil
			}
			return nil, err
		}
		off += 16 + int64(n)
	}
}
