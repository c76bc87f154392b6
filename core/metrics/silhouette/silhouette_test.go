package silhouette

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

// TestSilhouetteGolden compares Silhouette with scikit-learn's
// silhouette_score on the cases of testdata/golden.json
// (made by testdata/make_golden.py).
func TestSilhouetteGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Name       string    `json:"name"`
			N          int       `json:"n"`
			D          int       `json:"d"`
			X          []float64 `json:"x"`
			Pred       []int     `json:"pred"`
			Silhouette float64   `json:"silhouette"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 5 {
		t.Fatalf("golden file has %d cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		got, err := Silhouette(context.Background(), c.X, c.N, c.D, c.Pred)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if math.Abs(got-c.Silhouette) > 1e-12 {
			t.Errorf("%s: silhouette %.15f, scikit-learn %.15f", c.Name, got, c.Silhouette)
		}
	}
}

func TestSilhouetteUndefined(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	for _, pred := range [][]int{{5, 5, 5, 5}, {0, 1, 2, 3}} {
		s, err := Silhouette(context.Background(), x, 4, 1, pred)
		if err != nil || !math.IsNaN(s) {
			t.Errorf("pred %v: %v, %v; want NaN (scikit-learn refuses 1 or n clusters)", pred, s, err)
		}
	}
	if _, err := Silhouette(context.Background(), x, 4, 1, []int{0, 1}); err == nil {
		t.Error("mismatched lengths: no error")
	}
}

func TestSilhouetteSample(t *testing.T) {
	a, b := SilhouetteSample(10000, 2000, 7), SilhouetteSample(10000, 2000, 7)
	if !slices.Equal(a, b) || len(a) != 2000 || !slices.IsSorted(a) {
		t.Fatalf("sample not reproducible, sorted and of 2000 rows: %d rows", len(a))
	}
	if slices.Equal(a, SilhouetteSample(10000, 2000, 8)) {
		t.Error("another seed drew the same rows")
	}
	seen := map[int]bool{}
	for _, i := range a {
		if i < 0 || i >= 10000 || seen[i] {
			t.Fatalf("row %d out of range or drawn twice", i)
		}
		seen[i] = true
	}
	if all := SilhouetteSample(5, 2000, 1); !slices.Equal(all, []int{0, 1, 2, 3, 4}) {
		t.Errorf("small split: %v, want every row", all)
	}
}
