package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/clusterlab/clusterlab/core"
	pb "github.com/clusterlab/clusterlab/plugins/proto"
)

// This file converts between the core structs and their wire messages.
// Conversions from the wire validate what a plugin in another language (or
// a buggy one) could get wrong, so that a malformed message becomes a clear
// error instead of an index panic further on.

// encodeOptions renders options as a JSON object; nil options stay empty
// (a schema-only Describe), an empty map becomes "{}".
func encodeOptions(o core.Options) ([]byte, error) {
	if o == nil {
		return nil, nil
	}
	b, err := json.Marshal(map[string]any(o))
	if err != nil {
		return nil, fmt.Errorf("encode options as JSON: %w: %w", core.ErrInvalidInput, err)
	}
	return b, nil
}

// decodeOptions parses a JSON object of options. Numbers become int64 when
// they are integers and float64 otherwise, the types Options.Int/Float and
// core.ResolveOptions understand.
func decodeOptions(b []byte) (core.Options, error) {
	if len(b) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("options are not valid JSON: %w: %w", core.ErrInvalidInput, err)
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: options must be a JSON object, got %s", core.ErrInvalidInput, b)
	}
	return core.Options(m), nil
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return normalizeJSON(v), nil
}

func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeJSON(e)
		}
	}
	return v
}

func optionToPB(o core.Option) (*pb.Option, error) {
	p := &pb.Option{
		Name:        o.Name,
		Type:        o.Type,
		Help:        o.Help,
		Choices:     o.Choices,
		Optional:    o.Optional,
		DefaultFrom: o.DefaultFrom,
		AtMost:      o.AtMost,
	}
	if o.Default != nil {
		b, err := json.Marshal(o.Default)
		if err != nil {
			return nil, fmt.Errorf("option %q: encode default %v as JSON: %w", o.Name, o.Default, err)
		}
		p.DefaultJson = b
	}
	if o.Min != nil {
		v := *o.Min
		p.Min = &v
	}
	if o.Max != nil {
		v := *o.Max
		p.Max = &v
	}
	return p, nil
}

// optionFromPB decodes an option; its default gets the canonical Go type
// of the option's type (int64, float64, bool, string).
func optionFromPB(p *pb.Option) (core.Option, error) {
	o := core.Option{
		Name:        p.GetName(),
		Type:        p.GetType(),
		Help:        p.GetHelp(),
		Optional:    p.GetOptional(),
		DefaultFrom: p.GetDefaultFrom(),
	}
	if len(p.GetAtMost()) > 0 {
		o.AtMost = p.GetAtMost()
	}
	if len(p.GetChoices()) > 0 {
		o.Choices = p.GetChoices()
	}
	if p.Min != nil {
		v := p.GetMin()
		o.Min = &v
	}
	if p.Max != nil {
		v := p.GetMax()
		o.Max = &v
	}
	if len(p.GetDefaultJson()) > 0 {
		v, err := decodeJSON(p.GetDefaultJson())
		if err != nil {
			return core.Option{}, fmt.Errorf("option %q: default %q is not valid JSON: %w", o.Name, p.GetDefaultJson(), err)
		}
		switch x := v.(type) {
		case int64:
			if o.Type == core.TypeFloat {
				v = float64(x)
			}
		case float64:
			if o.Type == core.TypeInt && x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				v = int64(x)
			}
		}
		o.Default = v
	}
	return o, nil
}

func descriptionToPB(d core.Description) (*pb.Description, error) {
	p := &pb.Description{
		Kind:         d.Kind,
		Name:         d.Name,
		Version:      d.Version,
		Summary:      d.Summary,
		Identity:     d.Identity,
		NoNeighbours: d.NoNeighbours,
	}
	for _, o := range d.Options {
		po, err := optionToPB(o)
		if err != nil {
			return nil, err
		}
		p.Options = append(p.Options, po)
	}
	return p, nil
}

func descriptionFromPB(p *pb.Description) (core.Description, error) {
	if p == nil {
		return core.Description{}, errors.New("the description is missing")
	}
	d := core.Description{
		Kind:         p.GetKind(),
		Name:         p.GetName(),
		Version:      p.GetVersion(),
		Summary:      p.GetSummary(),
		Identity:     p.GetIdentity(),
		NoNeighbours: p.GetNoNeighbours(),
	}
	for _, po := range p.GetOptions() {
		o, err := optionFromPB(po)
		if err != nil {
			return core.Description{}, err
		}
		d.Options = append(d.Options, o)
	}
	return d, nil
}

func datasetInfoToPB(d core.DatasetInfo) (*pb.DatasetInfo, error) {
	desc, err := descriptionToPB(d.Description)
	if err != nil {
		return nil, err
	}
	p := &pb.DatasetInfo{
		Description: desc,
		Classes:     d.Classes,
		Height:      int32(d.Height),
		Width:       int32(d.Width),
		Channels:    int32(d.Channels),
	}
	for _, s := range d.Splits {
		p.Splits = append(p.Splits, &pb.SplitInfo{Name: s.Name, Count: int64(s.Count)})
	}
	for _, s := range d.Skipped {
		p.Skipped = append(p.Skipped, &pb.SkippedImage{Split: s.Split, Name: s.Name, Reason: s.Reason})
	}
	return p, nil
}

func datasetInfoFromPB(p *pb.DatasetInfo) (core.DatasetInfo, error) {
	if p == nil {
		return core.DatasetInfo{}, errors.New("the dataset info is missing")
	}
	desc, err := descriptionFromPB(p.GetDescription())
	if err != nil {
		return core.DatasetInfo{}, err
	}
	d := core.DatasetInfo{
		Description: desc,
		Height:      int(p.GetHeight()),
		Width:       int(p.GetWidth()),
		Channels:    int(p.GetChannels()),
	}
	if d.Height < 0 || d.Width < 0 || d.Channels < 0 {
		return core.DatasetInfo{}, fmt.Errorf("negative image geometry %dx%dx%d", d.Height, d.Width, d.Channels)
	}
	if len(p.GetClasses()) > 0 {
		d.Classes = p.GetClasses()
	}
	for _, s := range p.GetSplits() {
		if s.GetCount() < 0 {
			return core.DatasetInfo{}, fmt.Errorf("split %q has a negative size %d", s.GetName(), s.GetCount())
		}
		d.Splits = append(d.Splits, core.SplitInfo{Name: s.GetName(), Count: int(s.GetCount())})
	}
	for _, s := range p.GetSkipped() {
		d.Skipped = append(d.Skipped, core.SkippedImage{Split: s.GetSplit(), Name: s.GetName(), Reason: s.GetReason()})
	}
	return d, nil
}

func backboneInfoToPB(b core.BackboneInfo) (*pb.BackboneInfo, error) {
	desc, err := descriptionToPB(b.Description)
	if err != nil {
		return nil, err
	}
	return &pb.BackboneInfo{Description: desc, NeedsFit: b.NeedsFit}, nil
}

func backboneInfoFromPB(p *pb.BackboneInfo) (core.BackboneInfo, error) {
	if p == nil {
		return core.BackboneInfo{}, errors.New("the backbone info is missing")
	}
	desc, err := descriptionFromPB(p.GetDescription())
	if err != nil {
		return core.BackboneInfo{}, err
	}
	return core.BackboneInfo{Description: desc, NeedsFit: p.GetNeedsFit()}, nil
}

// checkImageBatch verifies that a batch's slices match its geometry.
func checkImageBatch(b core.ImageBatch) error {
	if b.Offset < 0 || b.Count < 0 || b.Height < 0 || b.Width < 0 || b.Channels < 0 {
		return fmt.Errorf("image batch at offset %d: negative offset, count or geometry (count %d, %dx%dx%d)",
			b.Offset, b.Count, b.Height, b.Width, b.Channels)
	}
	if want := b.Count * b.Height * b.Width * b.Channels; len(b.Pixels) != want {
		return fmt.Errorf("image batch at offset %d: %d pixel bytes for %d images of %dx%dx%d, want %d",
			b.Offset, len(b.Pixels), b.Count, b.Height, b.Width, b.Channels, want)
	}
	if len(b.Labels) != b.Count {
		return fmt.Errorf("image batch at offset %d: %d labels for %d images (use -1 for unknown labels)",
			b.Offset, len(b.Labels), b.Count)
	}
	if len(b.Names) != 0 && len(b.Names) != b.Count {
		return fmt.Errorf("image batch at offset %d: %d names for %d images (give one per image, or none)",
			b.Offset, len(b.Names), b.Count)
	}
	return nil
}

func imageBatchToPB(b core.ImageBatch) *pb.ImageBatch {
	return &pb.ImageBatch{
		Offset:   int64(b.Offset),
		Count:    int64(b.Count),
		Height:   int32(b.Height),
		Width:    int32(b.Width),
		Channels: int32(b.Channels),
		Pixels:   b.Pixels,
		Labels:   b.Labels,
		Names:    b.Names,
	}
}

func imageBatchFromPB(p *pb.ImageBatch) (core.ImageBatch, error) {
	if p == nil {
		return core.ImageBatch{}, errors.New("the image batch is missing")
	}
	b := core.ImageBatch{
		Offset:   int(p.GetOffset()),
		Count:    int(p.GetCount()),
		Height:   int(p.GetHeight()),
		Width:    int(p.GetWidth()),
		Channels: int(p.GetChannels()),
		Pixels:   p.GetPixels(),
		Labels:   p.GetLabels(),
		Names:    p.GetNames(),
	}
	if b.Pixels == nil {
		b.Pixels = []uint8{}
	}
	if b.Labels == nil {
		b.Labels = []int32{}
	}
	return b, checkImageBatch(b)
}

func checkEmbeddingBatch(b core.EmbeddingBatch) error {
	if b.Offset < 0 || b.Count < 0 || b.Dim < 0 {
		return fmt.Errorf("embedding batch at offset %d: negative offset, count or dimension (count %d, dim %d)",
			b.Offset, b.Count, b.Dim)
	}
	if want := b.Count * b.Dim; len(b.Values) != want {
		return fmt.Errorf("embedding batch at offset %d: %d values for %d embeddings of dimension %d, want %d",
			b.Offset, len(b.Values), b.Count, b.Dim, want)
	}
	return nil
}

func embeddingBatchToPB(b core.EmbeddingBatch) *pb.EmbeddingBatch {
	return &pb.EmbeddingBatch{
		Offset: int64(b.Offset),
		Count:  int64(b.Count),
		Dim:    int32(b.Dim),
		Values: b.Values,
	}
}

func embeddingBatchFromPB(p *pb.EmbeddingBatch) (core.EmbeddingBatch, error) {
	if p == nil {
		return core.EmbeddingBatch{}, errors.New("the embedding batch is missing")
	}
	b := core.EmbeddingBatch{
		Offset: int(p.GetOffset()),
		Count:  int(p.GetCount()),
		Dim:    int(p.GetDim()),
		Values: p.GetValues(),
	}
	if b.Values == nil {
		b.Values = []float32{}
	}
	return b, checkEmbeddingBatch(b)
}

func embedRequestToPB(r core.EmbedRequest) (*pb.EmbedRequest, error) {
	opts, err := encodeOptions(r.Options)
	if err != nil {
		return nil, err
	}
	ds, err := datasetInfoToPB(r.Dataset)
	if err != nil {
		return nil, fmt.Errorf("dataset info: %w", err)
	}
	return &pb.EmbedRequest{OptionsJson: opts, StateDir: r.StateDir, Dataset: ds, Split: r.Split}, nil
}

func embedRequestFromPB(p *pb.EmbedRequest) (core.EmbedRequest, error) {
	opts, err := decodeOptions(p.GetOptionsJson())
	if err != nil {
		return core.EmbedRequest{}, err
	}
	ds, err := datasetInfoFromPB(p.GetDataset())
	if err != nil {
		return core.EmbedRequest{}, fmt.Errorf("dataset info: %w", err)
	}
	return core.EmbedRequest{Options: opts, StateDir: p.GetStateDir(), Dataset: ds, Split: p.GetSplit()}, nil
}

func fitRequestToPB(r core.FitRequest) (*pb.FitRequest, error) {
	opts, err := encodeOptions(r.Options)
	if err != nil {
		return nil, err
	}
	return &pb.FitRequest{
		OptionsJson: opts,
		Train:       r.Train,
		Neighbours:  r.Neighbours,
		Assign:      r.Assign,
		Clusters:    int64(r.Clusters),
		Seed:        r.Seed,
		Backend:     r.Backend,
		OutDir:      r.OutDir,
		Spaces:      spacesToPB(r.Spaces),
		Monitor:     monitorToPB(r.Monitor),
	}, nil
}

func monitorToPB(m *core.Monitor) *pb.Monitor {
	if m == nil {
		return nil
	}
	return &pb.Monitor{Split: m.Split, Labels: m.Labels, MaxRows: int64(m.MaxRows)}
}

func monitorFromPB(m *pb.Monitor) *core.Monitor {
	if m == nil {
		return nil
	}
	return &core.Monitor{Split: m.GetSplit(), Labels: m.GetLabels(), MaxRows: int(m.GetMaxRows())}
}

func spacesToPB(spaces []core.Space) []*pb.Space {
	var out []*pb.Space
	for _, s := range spaces {
		out = append(out, &pb.Space{Name: s.Name, Train: s.Train, Assign: s.Assign})
	}
	return out
}

func spacesFromPB(spaces []*pb.Space) []core.Space {
	var out []core.Space
	for _, s := range spaces {
		sp := core.Space{Name: s.GetName(), Train: s.GetTrain()}
		if len(s.GetAssign()) > 0 {
			sp.Assign = s.GetAssign()
		}
		out = append(out, sp)
	}
	return out
}

func fitRequestFromPB(p *pb.FitRequest) (core.FitRequest, error) {
	opts, err := decodeOptions(p.GetOptionsJson())
	if err != nil {
		return core.FitRequest{}, err
	}
	r := core.FitRequest{
		Options:    opts,
		Train:      p.GetTrain(),
		Neighbours: p.GetNeighbours(),
		Clusters:   int(p.GetClusters()),
		Seed:       p.GetSeed(),
		Backend:    p.GetBackend(),
		OutDir:     p.GetOutDir(),
		Spaces:     spacesFromPB(p.GetSpaces()),
		Monitor:    monitorFromPB(p.GetMonitor()),
	}
	if len(p.GetAssign()) > 0 {
		r.Assign = p.GetAssign()
	}
	return r, nil
}

func progressToPB(p core.Progress) *pb.Progress {
	return &pb.Progress{
		Epoch:   int64(p.Epoch),
		Epochs:  int64(p.Epochs),
		Step:    int64(p.Step),
		Steps:   int64(p.Steps),
		Loss:    p.Loss,
		Message: p.Message,
	}
}

func progressFromPB(p *pb.Progress) core.Progress {
	return core.Progress{
		Epoch:   int(p.GetEpoch()),
		Epochs:  int(p.GetEpochs()),
		Step:    int(p.GetStep()),
		Steps:   int(p.GetSteps()),
		Loss:    p.GetLoss(),
		Message: p.GetMessage(),
	}
}

func fitResultToPB(r core.FitResult) *pb.FitResult {
	return &pb.FitResult{
		Backend:       r.Backend,
		BestHead:      int64(r.BestHead),
		HeadLosses:    r.HeadLosses,
		Assignments:   r.Assignments,
		Probabilities: r.Probabilities,
		History:       r.History,
		Seconds:       r.Seconds,
	}
}

func fitResultFromPB(p *pb.FitResult) core.FitResult {
	r := core.FitResult{
		Backend:  p.GetBackend(),
		BestHead: int(p.GetBestHead()),
		History:  p.GetHistory(),
		Seconds:  p.GetSeconds(),
	}
	if len(p.GetHeadLosses()) > 0 {
		r.HeadLosses = p.GetHeadLosses()
	}
	if len(p.GetAssignments()) > 0 {
		r.Assignments = p.GetAssignments()
	}
	if len(p.GetProbabilities()) > 0 {
		r.Probabilities = p.GetProbabilities()
	}
	return r
}
