//go:build !unix

package npy

// MapFloat32 reads the file into memory where memory-mapping is not
// available (non-Unix systems); the result is the same, only the memory
// is the heap's. unmap does nothing.
func MapFloat32(path string) (data []float32, shape []int, unmap func() error, err error) {
	data, shape, err = ReadFloat32(path)
	if err != nil {
		return nil, nil, nil, err
	}
	return data, shape, func() error { return nil }, nil
}
