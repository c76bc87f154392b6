package metrics

import "math"

// lsap solves the linear sum assignment problem for an nr x nc integer cost
// matrix (row-major in cost) with nr <= nc: it returns, for each row, the
// column assigned to it, such that the rows get distinct columns and the
// total cost is minimal.
//
// It is the shortest augmenting path algorithm of Crouse ("On implementing
// 2D rectangular assignment algorithms", IEEE TAES 52(4), 2016), the one
// behind scipy.optimize.linear_sum_assignment, O(nr * nc^2). It follows
// scipy's choices where several optima exist (columns scanned from the last,
// ties broken towards a free column), so that it returns scipy's assignment,
// not just one of the same cost: TEMI's official accuracy depends on which
// optimum is returned. Integer arithmetic makes it exact (scipy works in
// float64 on the same integers, which is also exact).
func lsap(cost []int64, nr, nc int) []int {
	const inf = math.MaxInt64
	u := make([]int64, nr)
	v := make([]int64, nc)
	shortest := make([]int64, nc)
	path := make([]int, nc)
	col4row := make([]int, nr)
	row4col := make([]int, nc)
	for i := range col4row {
		col4row[i] = -1
	}
	for j := range row4col {
		row4col[j] = -1
	}
	inRows := make([]bool, nr) // SR: rows reached by the current search
	inCols := make([]bool, nc) // SC: columns settled by the current search
	remaining := make([]int, nc)

	for cur := range nr {
		// Dijkstra-like search for the shortest augmenting path from row cur.
		for it := range nc {
			// Reverse order: a constant cost matrix yields the identity.
			remaining[it] = nc - it - 1
		}
		numRemaining := nc
		clear(inRows)
		clear(inCols)
		for j := range shortest {
			shortest[j] = inf
		}
		var minVal int64
		sink := -1
		i := cur
		for sink == -1 {
			index := -1
			lowest := int64(inf)
			inRows[i] = true
			for it := range numRemaining {
				j := remaining[it]
				r := minVal + cost[i*nc+j] - u[i] - v[j]
				if r < shortest[j] {
					path[j] = i
					shortest[j] = r
				}
				// Among equally short paths prefer one that ends at a free
				// column (a new sink).
				if shortest[j] < lowest || (shortest[j] == lowest && row4col[j] == -1) {
					lowest = shortest[j]
					index = it
				}
			}
			minVal = lowest
			j := remaining[index]
			if row4col[j] == -1 {
				sink = j
			} else {
				i = row4col[j]
			}
			inCols[j] = true
			numRemaining--
			remaining[index] = remaining[numRemaining]
		}

		// Update the dual variables.
		u[cur] += minVal
		for i := range nr {
			if inRows[i] && i != cur {
				u[i] += minVal - shortest[col4row[i]]
			}
		}
		for j := range nc {
			if inCols[j] {
				v[j] -= minVal - shortest[j]
			}
		}

		// Augment the matching along the path.
		j := sink
		for {
			i := path[j]
			row4col[j] = i
			col4row[i], j = j, col4row[i]
			if i == cur {
				break
			}
		}
	}
	return col4row
}

// maxWeightMatching returns the one-to-one matching of rows to columns of
// the non-negative weight matrix w (nr x nc, any shape) that maximises the
// total weight, as scipy.optimize.linear_sum_assignment(w, maximize=True):
// min(nr, nc) pairs, given as colOf[r] (-1 for an unmatched row).
func maxWeightMatching(w [][]int, nr, nc int) []int {
	colOf := make([]int, nr)
	for r := range colOf {
		colOf[r] = -1
	}
	if nr == 0 || nc == 0 {
		return colOf
	}
	wmax := 0
	for _, row := range w {
		for _, x := range row {
			wmax = max(wmax, x)
		}
	}
	// Maximising w is minimising wmax - w (scipy negates, then shifts by
	// the minimum: the same matrix). A tall matrix is transposed, as scipy
	// does, so that the solver always has no more rows than columns.
	if nr <= nc {
		cost := make([]int64, nr*nc)
		for r := range nr {
			for c := range nc {
				cost[r*nc+c] = int64(wmax - w[r][c])
			}
		}
		copy(colOf, lsap(cost, nr, nc))
		return colOf
	}
	cost := make([]int64, nc*nr)
	for c := range nc {
		for r := range nr {
			cost[c*nr+r] = int64(wmax - w[r][c])
		}
	}
	for c, r := range lsap(cost, nc, nr) {
		colOf[r] = c
	}
	return colOf
}

// Match returns the Hungarian matching of the table: clusterToClass maps the
// matched cluster ids to class labels one-to-one, maximising the number of
// samples whose cluster is matched to their class; matched is that number.
// With more clusters than classes the surplus clusters are left out of the
// map, with fewer the surplus classes are.
func (t *Table) Match() (clusterToClass map[int]int, matched int) {
	colOf := maxWeightMatching(t.Counts, len(t.Clusters), len(t.Classes))
	clusterToClass = make(map[int]int, len(colOf))
	for r, c := range colOf {
		if c < 0 {
			continue
		}
		clusterToClass[t.Clusters[r]] = t.Classes[c]
		matched += t.Counts[r][c]
	}
	return clusterToClass, matched
}

// HungarianACC is the clustering accuracy of docs/TEMI.md section 10: the
// fraction of samples whose cluster is matched to their class by the
// one-to-one matching of Match. Unmatched clusters count as errors.
func (t *Table) HungarianACC() float64 {
	_, matched := t.Match()
	return float64(matched) / float64(t.N)
}

// MajorityACC maps every cluster to its majority class (many-to-one) and
// returns the fraction of samples that land in their class. It is the
// usual accuracy for over-clustering reports; it is at least HungarianACC.
func (t *Table) MajorityACC() float64 {
	total := 0
	for _, row := range t.Counts {
		best := 0
		for _, v := range row {
			best = max(best, v)
		}
		total += best
	}
	return float64(total) / float64(t.N)
}
