package tbevents_test

import (
	"errors"
	"testing"

	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
)

// TestBestEffortStopsAtFirstFailure: a failed write closes the writer and
// is reported once; later calls, Flush and Close do nothing more.
func TestBestEffortStopsAtFirstFailure(t *testing.T) {
	dir := t.TempDir()
	w, err := tbevents.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	var reports []error
	b := tbevents.NewBestEffort(w, func(err error) { reports = append(reports, err) })
	b.Scalar("loss", 1, 0.5)
	if !b.Active() || len(reports) != 0 {
		t.Fatalf("after a good write: active %v, reports %v", b.Active(), reports)
	}
	b.Scalar("", 2, 0.5) // an empty tag is refused
	b.Scalar("loss", 3, 0.5)
	b.Flush()
	b.Close()
	if b.Active() || len(reports) != 1 {
		t.Fatalf("after a failed write: active %v, %d reports (%v), want inactive and 1", b.Active(), len(reports), reports)
	}
	if errors.Is(reports[0], tbevents.ErrClosed) {
		t.Errorf("reported %v, want the failure itself", reports[0])
	}
	loss := tbcheck.Series(t, tbcheck.ReadClean(t, dir), "loss")
	if _, ok := loss[1]; len(loss) != 1 || !ok {
		t.Errorf("steps of loss on disk %v, want only 1 (the write before the failure, flushed by the close)", loss)
	}
}
