package rundir

import (
	"encoding/json"
	"math"
)

// resultJSON is a Result as metrics.json holds it: metrics that are not
// numbers (NaN: no labelled sample, a silhouette not computed) are null,
// as JSON has no NaN.
type resultJSON struct {
	Method       string   `json:"method"`
	Selection    string   `json:"selection"`
	Split        string   `json:"split"`
	ACC          *float64 `json:"acc"`
	NMI          *float64 `json:"nmi"`
	ARI          *float64 `json:"ari"`
	AMI          *float64 `json:"ami"`
	ClustersUsed int      `json:"clusters_used"`
	Smallest     int      `json:"smallest_cluster"`
	Largest      int      `json:"largest_cluster"`
	N            int      `json:"n"`
	Unlabelled   int      `json:"unlabelled,omitempty"`
	MajorityACC  *float64 `json:"majority_acc"`
	Silhouette   *float64 `json:"silhouette"`
	// Generalization is omitted when not computed (runs written before it).
	Generalization *float64 `json:"generalization,omitempty"`
	Supervised     bool     `json:"supervised,omitempty"`
}

func number(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes NaN metrics as null.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{
		Method: r.Method, Selection: r.Selection, Split: r.Split,
		ACC: number(r.ACC), NMI: number(r.NMI), ARI: number(r.ARI), AMI: number(r.AMI),
		ClustersUsed: r.ClustersUsed, Smallest: r.Smallest, Largest: r.Largest, N: r.N, Unlabelled: r.Unlabelled,
		MajorityACC: number(r.MajorityACC), Silhouette: number(r.Silhouette), Generalization: number(r.Generalization),
		Supervised: r.Supervised,
	})
}

// UnmarshalJSON reads null or missing metrics as NaN (a silhouette is
// missing in runs written before it was computed).
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Result{Method: j.Method, Selection: j.Selection, Split: j.Split,
		MajorityACC: orNaN(j.MajorityACC), Silhouette: orNaN(j.Silhouette), Generalization: orNaN(j.Generalization),
		Supervised: j.Supervised}
	r.ACC, r.NMI, r.ARI, r.AMI = orNaN(j.ACC), orNaN(j.NMI), orNaN(j.ARI), orNaN(j.AMI)
	r.ClustersUsed, r.Smallest, r.Largest, r.N, r.Unlabelled = j.ClustersUsed, j.Smallest, j.Largest, j.N, j.Unlabelled
	return nil
}
