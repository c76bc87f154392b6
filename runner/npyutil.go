package main

import (
	"os"

	"github.com/clusterlab/clusterlab/core/npy"
)

func readHeader(path string) (npy.Header, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return npy.Header{}, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return npy.Header{}, 0, err
	}
	h, err := npy.ReadHeader(f)
	return h, st.Size(), err
}
