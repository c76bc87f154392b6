package plugins

import "github.com/clusterlab/clusterlab/core"

// splitImages cuts b into consecutive batches of whole images whose pixel
// payload is at most limit bytes (one image per batch when a single image
// is larger). The parts share b's backing arrays; offsets stay consistent.
func splitImages(b core.ImageBatch, limit int) []core.ImageBatch {
	per := b.Height * b.Width * b.Channels
	if per*b.Count <= limit || b.Count <= 1 || per == 0 {
		return []core.ImageBatch{b}
	}
	n := max(1, limit/per)
	parts := make([]core.ImageBatch, 0, (b.Count+n-1)/n)
	for i := 0; i < b.Count; i += n {
		j := min(b.Count, i+n)
		p := b
		p.Offset = b.Offset + i
		p.Count = j - i
		p.Pixels = b.Pixels[i*per : j*per]
		p.Labels = b.Labels[i:j]
		if len(b.Names) > 0 {
			p.Names = b.Names[i:j]
		}
		parts = append(parts, p)
	}
	return parts
}

// splitEmbeddings cuts b into consecutive batches of whole rows of at most
// limit bytes of float32 values (one row per batch when a row is larger).
func splitEmbeddings(b core.EmbeddingBatch, limit int) []core.EmbeddingBatch {
	per := 4 * b.Dim
	if per*b.Count <= limit || b.Count <= 1 || per == 0 {
		return []core.EmbeddingBatch{b}
	}
	n := max(1, limit/per)
	parts := make([]core.EmbeddingBatch, 0, (b.Count+n-1)/n)
	for i := 0; i < b.Count; i += n {
		j := min(b.Count, i+n)
		p := b
		p.Offset = b.Offset + i
		p.Count = j - i
		p.Values = b.Values[i*b.Dim : j*b.Dim]
		parts = append(parts, p)
	}
	return parts
}
