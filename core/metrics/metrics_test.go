package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
)

// goldenCase is one case of testdata/metrics_golden.json (scikit-learn's
// values; see its "schema" key).
type goldenCase struct {
	Name          string  `json:"name"`
	N             int     `json:"n"`
	KTrue         int     `json:"k_true"`
	KPredUsed     int     `json:"k_pred_used"`
	KPredDeclared int     `json:"k_pred_declared"`
	LabelsTrue    []int   `json:"labels_true"`
	LabelsPred    []int   `json:"labels_pred"`
	NMI           float64 `json:"nmi"`
	ARI           float64 `json:"ari"`
	AMI           float64 `json:"ami"`
	ACC           float64 `json:"acc"`
	ACCOfficial   float64 `json:"acc_official_temi"`
	Intermediates struct {
		MI          float64 `json:"mi"`
		HTrue       float64 `json:"h_true"`
		HPred       float64 `json:"h_pred"`
		EMI         float64 `json:"emi"`
		Contingency [][]int `json:"contingency"`
	} `json:"intermediates"`
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/metrics_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("golden file has no cases")
	}
	return g.Cases
}

const tol = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

func TestGolden(t *testing.T) {
	for _, c := range loadGolden(t) {
		t.Run(c.Name, func(t *testing.T) {
			if len(c.LabelsTrue) != c.N || len(c.LabelsPred) != c.N {
				t.Fatalf("golden case lengths %d/%d, n=%d", len(c.LabelsTrue), len(c.LabelsPred), c.N)
			}
			s, err := Score(c.LabelsTrue, c.LabelsPred)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got, want float64) {
				t.Helper()
				if !near(got, want) {
					t.Errorf("%s = %.17g, want %.17g (diff %.3g)", name, got, want, got-want)
				}
			}
			check("acc", s.ACC, c.ACC)
			check("nmi", s.NMI, c.NMI)
			check("ari", s.ARI, c.ARI)
			check("ami", s.AMI, c.AMI)
			check("acc_official_temi", OfficialTEMIACC(c.LabelsTrue, c.LabelsPred), c.ACCOfficial)
			check("HungarianACC", HungarianACC(c.LabelsTrue, c.LabelsPred), c.ACC)
			check("NMI", NMI(c.LabelsTrue, c.LabelsPred), c.NMI)
			check("ARI", ARI(c.LabelsTrue, c.LabelsPred), c.ARI)
			check("AMI", AMI(c.LabelsTrue, c.LabelsPred), c.AMI)
			if s.N != c.N || s.ClustersUsed != c.KPredUsed {
				t.Errorf("n=%d clusters_used=%d, want %d %d", s.N, s.ClustersUsed, c.N, c.KPredUsed)
			}

			tb, err := NewTable(c.LabelsTrue, c.LabelsPred)
			if err != nil {
				t.Fatal(err)
			}
			check("mi", tb.MutualInfo(), c.Intermediates.MI)
			check("emi", tb.ExpectedMutualInfo(), c.Intermediates.EMI)
			hTrue, hPred := tb.Entropies()
			check("h_true", hTrue, c.Intermediates.HTrue)
			check("h_pred", hPred, c.Intermediates.HPred)
			if len(tb.Classes) != c.KTrue {
				t.Errorf("%d classes, want %d", len(tb.Classes), c.KTrue)
			}
			rows, cols, counts := Contingency(c.LabelsTrue, c.LabelsPred)
			if !reflect.DeepEqual(counts, c.Intermediates.Contingency) {
				t.Errorf("contingency = %v, want %v", counts, c.Intermediates.Contingency)
			}
			if len(rows) != c.KPredUsed || len(cols) != c.KTrue {
				t.Errorf("contingency has %d rows, %d cols", len(rows), len(cols))
			}

			smallest, largest := c.N, 0
			for _, r := range c.Intermediates.Contingency {
				size := 0
				for _, v := range r {
					size += v
				}
				smallest, largest = min(smallest, size), max(largest, size)
			}
			if s.Smallest != smallest || s.Largest != largest {
				t.Errorf("smallest/largest = %d/%d, want %d/%d", s.Smallest, s.Largest, smallest, largest)
			}

			// The matching behind acc: one-to-one, min(K, C) pairs, of
			// occupied clusters to real classes, worth acc * n samples.
			mapping, matched := Match(c.LabelsTrue, c.LabelsPred)
			if !near(float64(matched)/float64(c.N), c.ACC) {
				t.Errorf("Match matched %d, acc*n = %g", matched, c.ACC*float64(c.N))
			}
			checkMatching(t, tb, mapping, matched)

			// Majority (many-to-one) accuracy is never below the one-to-one
			// one and never below the official TEMI accuracy.
			maj := MajorityACC(c.LabelsTrue, c.LabelsPred)
			if maj < s.ACC-tol || maj < c.ACCOfficial-tol {
				t.Errorf("MajorityACC %g below acc %g or official %g", maj, s.ACC, c.ACCOfficial)
			}
		})
	}
}

// checkMatching verifies that mapping is a one-to-one matching of occupied
// clusters to classes with min(K, C) pairs that covers matched samples.
func checkMatching(t *testing.T, tb *Table, mapping map[int]int, matched int) {
	t.Helper()
	if want := min(len(tb.Clusters), len(tb.Classes)); len(mapping) != want {
		t.Errorf("matching has %d pairs, want %d", len(mapping), want)
	}
	rowOf := map[int]int{}
	for r, id := range tb.Clusters {
		rowOf[id] = r
	}
	colOf := map[int]int{}
	for c, id := range tb.Classes {
		colOf[id] = c
	}
	used := map[int]bool{}
	sum := 0
	for cl, class := range mapping {
		r, ok1 := rowOf[cl]
		c, ok2 := colOf[class]
		if !ok1 || !ok2 {
			t.Fatalf("pair %d->%d is not an occupied cluster and a class", cl, class)
		}
		if used[class] {
			t.Fatalf("class %d matched twice", class)
		}
		used[class] = true
		sum += tb.Counts[r][c]
	}
	if sum != matched {
		t.Errorf("pairs cover %d samples, matched says %d", sum, matched)
	}
}

// TestSklearnDocExamples checks values from scikit-learn's documentation.
func TestSklearnDocExamples(t *testing.T) {
	cases := []struct {
		name        string
		labels      []int
		pred        []int
		f           func([]int, []int) float64
		want        float64
		description string
	}{
		{"ari perfect", []int{0, 0, 1, 1}, []int{0, 0, 1, 1}, ARI, 1, ""},
		{"ari permuted", []int{0, 0, 1, 1}, []int{1, 1, 0, 0}, ARI, 1, ""},
		{"ari split", []int{0, 0, 1, 2}, []int{0, 0, 1, 1}, ARI, 0.5714285714285714, ""},
		{"ari split rev", []int{0, 0, 1, 1}, []int{0, 0, 1, 2}, ARI, 0.5714285714285714, ""},
		{"ari all apart", []int{0, 0, 0, 0}, []int{0, 1, 2, 3}, ARI, 0, ""},
		{"ari discordant", []int{0, 0, 1, 1}, []int{0, 1, 0, 1}, ARI, -0.5, ""},
		{"nmi all apart", []int{0, 0, 0, 0}, []int{0, 1, 2, 3}, NMI, 0, ""},
		{"ami all apart", []int{0, 0, 0, 0}, []int{0, 1, 2, 3}, AMI, 0, ""},
		{"nmi perfect", []int{0, 0, 1, 1}, []int{1, 1, 0, 0}, NMI, 1, ""},
		{"ami perfect", []int{0, 0, 1, 1}, []int{1, 1, 0, 0}, AMI, 1, ""},
		// Both labellings a single cluster: sklearn's perfect-match limit.
		{"nmi single", []int{3, 3, 3}, []int{7, 7, 7}, NMI, 1, ""},
		{"ami single", []int{3, 3, 3}, []int{7, 7, 7}, AMI, 1, ""},
		{"ari single", []int{3, 3, 3}, []int{7, 7, 7}, ARI, 1, ""},
		{"ari one sample", []int{1}, []int{2}, ARI, 1, ""},
		// One side a single cluster, the other not: no information.
		{"nmi one side", []int{0, 0, 1, 1}, []int{5, 5, 5, 5}, NMI, 0, ""},
		{"ami one side", []int{0, 0, 1, 1}, []int{5, 5, 5, 5}, AMI, 0, ""},
		{"ari one side", []int{0, 0, 1, 1}, []int{5, 5, 5, 5}, ARI, 0, ""},
	}
	for _, c := range cases {
		if got := c.f(c.labels, c.pred); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s: got %.17g want %.17g", c.name, got, c.want)
		}
	}
}

func TestInputErrors(t *testing.T) {
	if _, err := Score([]int{1, 2}, []int{1}); !errors.Is(err, ErrInput) {
		t.Errorf("length mismatch: err = %v", err)
	}
	if _, err := Score(nil, nil); !errors.Is(err, ErrInput) || !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("empty: err = %v", err)
	}
	for name, v := range map[string]float64{
		"acc": HungarianACC([]int{1}, nil), "nmi": NMI(nil, nil), "ari": ARI([]int{1}, []int{1, 2}),
		"ami": AMI(nil, nil), "maj": MajorityACC(nil, nil),
		"official": OfficialTEMIACC([]int{1}, []int{2, 3}),
	} {
		if !math.IsNaN(v) {
			t.Errorf("%s on invalid input = %g, want NaN", name, v)
		}
	}
	if m, n := Match(nil, []int{1}); m != nil || n != 0 {
		t.Errorf("Match on invalid input = %v %d", m, n)
	}
	// The official code cannot take negative ids.
	if v := OfficialTEMIACC([]int{0, 1}, []int{-1, 0}); !math.IsNaN(v) {
		t.Errorf("official with a negative id = %g, want NaN", v)
	}
}

// randomLabelling draws n labels in [0, k) with a skewed distribution and a
// prediction that agrees with a random class map with probability agree.
func randomLabelling(rng *rand.Rand, n, kTrue, kPred int, agree float64) ([]int, []int) {
	labels := make([]int, n)
	pred := make([]int, n)
	perm := rng.Perm(max(kTrue, kPred))
	for i := range labels {
		// Skew: square of a uniform favours low classes.
		u := rng.Float64()
		labels[i] = int(u * u * float64(kTrue))
		if rng.Float64() < agree {
			pred[i] = perm[labels[i]] % kPred
		} else {
			pred[i] = rng.IntN(kPred)
		}
	}
	return labels, pred
}

// relabel maps ids through a random injective map onto scattered ints,
// negative and huge ones included (the map path of the table builder).
func relabel(rng *rand.Rand, ids []int) []int {
	m := map[int]int{}
	used := map[int]bool{}
	out := make([]int, len(ids))
	for i, v := range ids {
		w, ok := m[v]
		for !ok {
			w = int(rng.Int64N(1<<40)) - 1<<39
			if !used[w] {
				used[w] = true
				m[v] = w
				ok = true
			}
		}
		out[i] = w
	}
	return out
}

func TestPermutationInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		kTrue, kPred := 2+rng.IntN(12), 1+rng.IntN(15)
		labels, pred := randomLabelling(rng, 50+rng.IntN(800), kTrue, kPred, rng.Float64())
		s1, err := Score(labels, pred)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Score(relabel(rng, labels), relabel(rng, pred))
		if err != nil {
			t.Fatal(err)
		}
		// Relabelling reorders rows and columns, hence the order of the
		// floating-point sums: allow rounding, not more.
		if !near(s1.ACC, s2.ACC) || !near(s1.NMI, s2.NMI) || !near(s1.ARI, s2.ARI) || !near(s1.AMI, s2.AMI) ||
			s1.ClustersUsed != s2.ClustersUsed || s1.Smallest != s2.Smallest || s1.Largest != s2.Largest {
			t.Errorf("trial %d: scores change under relabelling: %+v vs %+v", trial, s1, s2)
		}
		// NMI, ARI and AMI are symmetric in their arguments.
		sw, err := Score(pred, labels)
		if err != nil {
			t.Fatal(err)
		}
		if !near(s1.NMI, sw.NMI) || !near(s1.ARI, sw.ARI) || !near(s1.AMI, sw.AMI) {
			t.Errorf("trial %d: not symmetric: %+v vs %+v", trial, s1, sw)
		}
		if s1.ACC < 0 || s1.ACC > 1 || s1.NMI < 0 || s1.NMI > 1+tol || s1.AMI > 1+tol || s1.ARI > 1+tol {
			t.Errorf("trial %d: out of range: %+v", trial, s1)
		}
		// The one-to-one accuracy can only grow when the clusters may be
		// mapped many-to-one.
		if maj := MajorityACC(labels, pred); maj < s1.ACC {
			t.Errorf("trial %d: majority %g < hungarian %g", trial, maj, s1.ACC)
		}
	}
}

func TestPerfect(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	labels, _ := randomLabelling(rng, 1000, 10, 10, 1)
	pred := relabel(rng, labels)
	s, err := Score(labels, pred)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.ACC, 1) || !near(s.NMI, 1) || !near(s.ARI, 1) || !near(s.AMI, 1) {
		t.Errorf("perfect clustering scores %+v", s)
	}
	if v := OfficialTEMIACC(labels, labels); v != 1 {
		t.Errorf("official acc of a perfect clustering = %g", v)
	}
	if v := MajorityACC(labels, pred); v != 1 {
		t.Errorf("majority acc of a perfect clustering = %g", v)
	}
}

// bruteMaxMatching tries every injective map of the smaller side into the
// larger one.
func bruteMaxMatching(w [][]int, nr, nc int) int {
	best := 0
	used := make([]bool, max(nr, nc))
	var rec func(i, acc int)
	if nr <= nc {
		rec = func(r, acc int) {
			if r == nr {
				best = max(best, acc)
				return
			}
			for c := range nc {
				if !used[c] {
					used[c] = true
					rec(r+1, acc+w[r][c])
					used[c] = false
				}
			}
		}
	} else {
		rec = func(c, acc int) {
			if c == nc {
				best = max(best, acc)
				return
			}
			for r := range nr {
				if !used[r] {
					used[r] = true
					rec(c+1, acc+w[r][c])
					used[r] = false
				}
			}
		}
	}
	rec(0, 0)
	return best
}

func TestHungarianAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		nr, nc := 1+rng.IntN(7), 1+rng.IntN(7)
		// Small values make ties common, the hard case for the solver.
		hi := 1 + rng.IntN(6)
		w := make([][]int, nr)
		for r := range w {
			w[r] = make([]int, nc)
			for c := range w[r] {
				w[r][c] = rng.IntN(hi)
			}
		}
		colOf := maxWeightMatching(w, nr, nc)
		got, pairs := 0, 0
		seen := map[int]bool{}
		for r, c := range colOf {
			if c < 0 {
				continue
			}
			if seen[c] {
				t.Fatalf("trial %d: column %d used twice: %v", trial, c, colOf)
			}
			seen[c] = true
			got += w[r][c]
			pairs++
		}
		if pairs != min(nr, nc) {
			t.Fatalf("trial %d: %d pairs for %dx%d", trial, pairs, nr, nc)
		}
		if want := bruteMaxMatching(w, nr, nc); got != want {
			t.Fatalf("trial %d: matching worth %d, optimum %d; w=%v", trial, got, want, w)
		}
	}
}

// TestAssignmentTieBreaking pins scipy's documented choice for a constant
// cost matrix (the identity, scipy issue 11602) and the official accuracy
// under over-clustering, which depends on the optimum chosen.
func TestAssignmentTieBreaking(t *testing.T) {
	cost := make([]int64, 5*5)
	for i, c := range lsap(cost, 5, 5) {
		if c != i {
			t.Fatalf("constant matrix: row %d -> column %d, want identity", i, c)
		}
	}
	// Over-clustering: 3 classes, 4 clusters; cluster 3 is mostly class 0.
	labels := []int{0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0}
	pred := []int{0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 1}
	if got := HungarianACC(labels, pred); math.Abs(got-10.0/13) > 1e-15 {
		t.Errorf("hungarian acc = %g, want 10/13", got)
	}
	// The official code hands the surplus cluster 3 to its majority class.
	if got := OfficialTEMIACC(labels, pred); math.Abs(got-12.0/13) > 1e-15 {
		t.Errorf("official acc = %g, want 12/13", got)
	}
}

// exactEMI computes the expected mutual information with exact binomial
// coefficients (big integers) instead of log-gamma: an independent check of
// ExpectedMutualInfo.
func exactEMI(a, b []int, n int) float64 {
	binom := func(n, k int) *big.Int { return new(big.Int).Binomial(int64(n), int64(k)) }
	emi := 0.0
	for _, ai := range a {
		for _, bj := range b {
			den := binom(n, bj)
			for nij := max(1, ai+bj-n); nij <= min(ai, bj); nij++ {
				num := new(big.Int).Mul(binom(ai, nij), binom(n-ai, bj-nij))
				p, _ := new(big.Rat).SetFrac(num, den).Float64()
				emi += float64(nij) / float64(n) * math.Log(float64(n)*float64(nij)/(float64(ai)*float64(bj))) * p
			}
		}
	}
	return emi
}

func TestExpectedMutualInfoExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{7, 40, 300} {
		labels, pred := randomLabelling(rng, n, 4, 3, 0.5)
		tb, err := NewTable(labels, pred)
		if err != nil {
			t.Fatal(err)
		}
		got := tb.ExpectedMutualInfo()
		want := exactEMI(tb.ClassSizes, tb.ClusterSizes, n)
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("n=%d: emi %.17g, exact %.17g", n, got, want)
		}
	}
}

// TestLargeN scores millions of samples: the ARI products exceed int64 and
// the EMI needs log-gamma; both are checked against closed forms.
func TestLargeN(t *testing.T) {
	const n = 4_000_000
	labels := make([]int, n)
	pred := make([]int, n)
	for i := range labels {
		labels[i] = i % 2
		pred[i] = (i / 2) % 2
	}
	tb, err := NewTable(labels, pred)
	if err != nil {
		t.Fatal(err)
	}
	// The comb(·, 2) form of the adjusted Rand index, in float64 (all
	// terms are below 2^53 here): an independent formula.
	c2 := func(x int) float64 { return float64(x) * float64(x-1) / 2 }
	m := n / 4
	index := 4 * c2(m)
	sumA, sumB := 2*c2(2*m), 2*c2(2*m)
	expected := sumA * sumB / c2(n)
	want := (index - expected) / ((sumA+sumB)/2 - expected)
	if got := tb.ARI(); math.Abs(got-want) > 1e-12 {
		t.Errorf("ARI = %.17g, want %.17g", got, want)
	}
	if mi := tb.MutualInfo(); mi != 0 {
		t.Errorf("independent halves: MI = %g, want 0", mi)
	}
	// E[MI] of two independent balanced binary labellings is about
	// (R-1)(C-1)/(2n) nats.
	if emi, approx := tb.ExpectedMutualInfo(), 1.0/(2*n); math.Abs(emi-approx) > 1e-3*approx {
		t.Errorf("EMI = %g, want about %g", emi, approx)
	}
	if ami := tb.AMI(); ami > 0 || ami < -1e-3 {
		t.Errorf("AMI of independent labellings = %g, want slightly negative", ami)
	}
}

// clusteredLabelling is the benchmark's input: n samples, k classes and k
// clusters, 70% agreement.
func clusteredLabelling(n, k int) ([]int, []int) {
	rng := rand.New(rand.NewPCG(9, 10))
	labels := make([]int, n)
	pred := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(k)
		if rng.Float64() < 0.7 {
			pred[i] = (labels[i]*37 + 11) % k
		} else {
			pred[i] = rng.IntN(k)
		}
	}
	return labels, pred
}

// TestScoreIsFast guards the cost of scoring a CIFAR-100-sized split.
func TestScoreIsFast(t *testing.T) {
	labels, pred := clusteredLabelling(60000, 100)
	start := time.Now()
	s, err := Score(labels, pred)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Score at n=60000, K=C=100 took %v, want well under 1 s", d)
	}
	if s.ACC < 0.7 || s.ACC > 0.8 {
		t.Errorf("acc = %g, expected about 0.7", s.ACC)
	}
}

func BenchmarkScore(b *testing.B) {
	labels, pred := clusteredLabelling(60000, 100)
	for b.Loop() {
		if _, err := Score(labels, pred); err != nil {
			b.Fatal(err)
		}
	}
}
