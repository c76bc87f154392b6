//go:build unix

package npy

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// MapFloat32 maps a little-endian float32 (C-order) .npy file read-only
// into memory and returns its data as a []float32 view, its shape, and a
// function that unmaps it. The pages are backed by the file: they are read
// on first use and the kernel may drop them again under memory pressure,
// so that an array as large as memory (1,000,000 x 768 float32 is 3.07 GB)
// costs no heap and no second copy, unlike ReadFloat32, which holds the
// bytes and the floats at once. The view is read-only: writing to it
// faults. It must not be used after unmap.
func MapFloat32(path string) (data []float32, shape []int, unmap func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := ReadHeader(bufio.NewReader(f))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	if err := mappable(h, st.Size()); err != nil {
		return nil, nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	count := h.Count()
	if count == 0 {
		return []float32{}, h.Shape, func() error { return nil }, nil
	}
	size := h.DataOffset + int64(count)*4
	if size != int64(int(size)) {
		return nil, nil, nil, fmt.Errorf("map %s: %d bytes do not fit this platform's address space", path, size)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("map %s (%d bytes): %w; read it with ReadFloat32 instead if mapping is not possible here", path, size, err)
	}
	data = unsafe.Slice((*float32)(unsafe.Pointer(&m[h.DataOffset])), count)
	unmap = func() error {
		if m == nil {
			return nil
		}
		err := syscall.Munmap(m)
		m = nil
		return err
	}
	return data, h.Shape, unmap, nil
}

// mappable says whether the data of a file with header h and fileSize
// bytes can be viewed in place as []float32.
func mappable(h Header, fileSize int64) error {
	if h.DType != "<f4" && h.DType != "=f4" {
		return fmt.Errorf("%w: dtype %s cannot be mapped as float32 (only little-endian <f4 can); convert it with ReadFloat32", ErrFormat, h.DType)
	}
	if h.FortranOrder {
		return fmt.Errorf("%w: Fortran-order arrays are not supported; save with numpy.ascontiguousarray", ErrFormat)
	}
	if h.DataOffset%4 != 0 {
		return fmt.Errorf("%w: data offset %d is not aligned to 4 bytes", ErrFormat, h.DataOffset)
	}
	if want := h.DataOffset + int64(h.Count())*4; want != fileSize {
		return fmt.Errorf("%w: header announces %d data bytes at offset %d, file has %d bytes (truncated or damaged)", ErrFormat, int64(h.Count())*4, h.DataOffset, fileSize)
	}
	var probe uint16 = 1
	if *(*byte)(unsafe.Pointer(&probe)) != 1 {
		return fmt.Errorf("%w: this machine is big-endian, little-endian data cannot be viewed in place; use ReadFloat32", ErrFormat)
	}
	return nil
}
