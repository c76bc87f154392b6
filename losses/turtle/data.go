package main

import (
	"fmt"
	"os"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/train"
)

// readEmbeddings is train.ReadEmbeddings (a finite [N, D] float32 file and
// the CRC of its data) as TURTLE's matrix.
func readEmbeddings(path, what string) (matrix[float32], uint32, error) {
	data, rows, cols, crc, err := train.ReadEmbeddings(path, what)
	return matrix[float32]{Data: data, Rows: rows, Cols: cols}, crc, err
}

// npyShape is the shape of the .npy file at path, from its header.
func npyShape(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := npy.ReadHeader(f)
	if err != nil {
		return nil, core.InvalidInput(fmt.Errorf("%s: %w", path, err))
	}
	return h.Shape, nil
}

// checkSplits checks, from the files' headers alone, that every space
// embeds every split with its train dimension and the same rows as the
// other spaces, so that a bad split fails before training rather than
// after it. It returns each split's rows.
func checkSplits(spaces []core.Space, splits []string, dims []int) (map[string]int, error) {
	rows := map[string]int{}
	for _, split := range splits {
		for s, sp := range spaces {
			path, ok := sp.Assign[split]
			if !ok || path == "" {
				return nil, core.InvalidInput(fmt.Errorf("fit: %s has no %s embeddings; every space must embed every split", spaceName(sp, s), split))
			}
			shape, err := npyShape(path)
			if err != nil {
				return nil, fmt.Errorf("read the %s embeddings of %s: %w", split, spaceName(sp, s), err)
			}
			switch {
			case len(shape) != 2 || shape[0] < 1:
				return nil, core.InvalidInput(fmt.Errorf("fit: the %s embeddings of %s (%s) have shape %v; want [N, %d]", split, spaceName(sp, s), path, shape, dims[s]))
			case shape[1] != dims[s]:
				return nil, core.InvalidInput(fmt.Errorf("fit: the %s embeddings of %s (%s) have dimension %d, its train embeddings %d; use embeddings of the same backbone",
					split, spaceName(sp, s), path, shape[1], dims[s]))
			case s > 0 && shape[0] != rows[split]:
				return nil, core.InvalidInput(fmt.Errorf("fit: the %s embeddings of %s have %d rows, those of %s %d; every space must embed the same images",
					split, spaceName(sp, s), shape[0], spaceName(spaces[0], 0), rows[split]))
			}
			rows[split] = shape[0]
		}
	}
	return rows, nil
}

// spaceName is how errors name space s.
func spaceName(sp core.Space, s int) string {
	if sp.Name != "" {
		return fmt.Sprintf("space %d (%s)", s, sp.Name)
	}
	return fmt.Sprintf("space %d", s)
}

// trainSpaces reads every space's train embeddings and checks that they
// have the same rows.
func trainSpaces(spaces []core.Space) ([]matrix[float32], []uint32, error) {
	var ms []matrix[float32]
	var crcs []uint32
	for s, sp := range spaces {
		if sp.Train == "" {
			return nil, nil, core.InvalidInput(fmt.Errorf("fit: %s has no train embeddings", spaceName(sp, s)))
		}
		m, crc, err := readEmbeddings(sp.Train, "train "+spaceName(sp, s))
		if err != nil {
			return nil, nil, err
		}
		if s > 0 && m.Rows != ms[0].Rows {
			return nil, nil, core.InvalidInput(fmt.Errorf("fit: the train embeddings of %s have %d rows, those of %s %d; every space must embed the same images",
				spaceName(sp, s), m.Rows, spaceName(spaces[0], 0), ms[0].Rows))
		}
		ms, crcs = append(ms, m), append(crcs, crc)
	}
	return ms, crcs, nil
}

// splitSpaces reads a split's embeddings in every space and checks them
// against the train embeddings' dimensions and each other's rows.
func splitSpaces(spaces []core.Space, split string, dims []int) ([]matrix[float32], error) {
	var ms []matrix[float32]
	for s, sp := range spaces {
		path, ok := sp.Assign[split]
		if !ok || path == "" {
			return nil, core.InvalidInput(fmt.Errorf("assign: %s has no %s embeddings; every space must embed every split", spaceName(sp, s), split))
		}
		m, _, err := readEmbeddings(path, split+" "+spaceName(sp, s))
		if err != nil {
			return nil, err
		}
		if m.Cols != dims[s] {
			return nil, core.InvalidInput(fmt.Errorf("assign: the %s embeddings of %s (%s) have dimension %d, its train embeddings %d; use embeddings of the same backbone",
				split, spaceName(sp, s), path, m.Cols, dims[s]))
		}
		if s > 0 && m.Rows != ms[0].Rows {
			return nil, core.InvalidInput(fmt.Errorf("assign: the %s embeddings of %s have %d rows, those of %s %d; every space must embed the same images",
				split, spaceName(sp, s), m.Rows, spaceName(spaces[0], 0), ms[0].Rows))
		}
		ms = append(ms, m)
	}
	return ms, nil
}
