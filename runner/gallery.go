package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/report"
)

// writeReportInputs stores what the report needs beyond the trainer's
// files: the ground-truth labels of every split and the class names, so
// that `clusterlab report` can redraw everything from the run directory.
func writeReportInputs(runDir string, dsInfo core.DatasetInfo, labels map[string][]int32) error {
	for name, v := range labels {
		if err := npy.WriteInt32(filepath.Join(runDir, rundir.LabelsFile(name)), v, len(v)); err != nil {
			return err
		}
	}
	if err := rundir.WriteDataset(runDir, rundir.Dataset{Name: dsInfo.Name, Classes: dsInfo.Classes}); err != nil {
		return err
	}
	return writeSkipped(runDir, dsInfo.Skipped)
}

// writeSkipped lists the files the dataset left out (skipped.csv), or
// removes a list an earlier attempt wrote when there are none now.
func writeSkipped(runDir string, skipped []core.SkippedImage) error {
	path := filepath.Join(runDir, rundir.SkippedFile)
	if len(skipped) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return npy.WriteAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(rundir.SkippedHeader); err != nil {
			return err
		}
		for _, s := range skipped {
			if err := cw.Write([]string{s.Split, s.Name, s.Reason}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// galleryPerGroup is how many images a gallery shows in each group of a
// cluster's row (most confident, least confident, misassigned).
func galleryPerGroup(k int) int {
	switch {
	case k <= 20:
		return 5
	case k <= 100:
		return 4
	default:
		return 3
	}
}

// writeGalleries renders gallery_<split>.png for every split: one row per
// cluster, captioned with the matched class and purity, showing side by
// side the images the best head is most confident about, those it is
// least confident about and, where labels are known, the misassigned ones
// (of another class than the cluster's), the most confident mistakes
// first. Confidence is the best head's probability of the cluster
// (probs_<split>.npy; probs_<split>_best.npy of older runs). The images
// are read back from the dataset plugin (relaunched: it was stopped after
// the embedding), streaming each split once and keeping only the picked
// ones; info is the dataset as planning described it (describing it again
// would check every file again). Its lines go to log.
func writeGalleries(ctx context.Context, cfg *config.Config, info core.DatasetInfo, runDir string, splitNames []string, labels map[string][]int32, bestHead, k int, log trialLog) error {
	var opts []plugins.LaunchOption
	if cfg.Dataset.SHA256 != "" {
		opts = append(opts, plugins.WithSHA256(cfg.Dataset.SHA256))
	}
	c, err := plugins.Launch(ctx, core.KindDataset, cfg.Dataset.Plugin, opts...)
	if err != nil {
		return fmt.Errorf("dataset plugin: %w", err)
	}
	defer c.Kill()
	ds := c.Dataset()
	classes := info.Classes
	for _, split := range splitNames {
		t0 := time.Now()
		best, err := selectedHead(runDir, split, bestHead)
		if err != nil {
			return err
		}
		conf, _, err := report.ReadConfidence(runDir, split, best)
		if errors.Is(err, fs.ErrNotExist) {
			log.Logf("gallery %-5s: %v; clusters show their first samples", split, err)
		} else if err != nil {
			return err
		}
		lab := labels[split]
		sums, err := report.ClusterSummaries(best, lab, classes, k)
		if err != nil {
			return err
		}
		picks, err := report.GalleryPicks(best, conf, lab, sums, galleryPerGroup(k))
		if err != nil {
			return err
		}
		want := map[int]image.Image{}
		for _, p := range picks {
			for _, g := range [][]int{p.Confident, p.Unsure, p.Misassigned} {
				for _, i := range g {
					want[i] = nil
				}
			}
		}
		err = ds.Read(ctx, core.ReadRequest{Options: cfg.Dataset.Options, Split: split, BatchSize: readBatchSize(info)}, func(b core.ImageBatch) error {
			per := b.Height * b.Width * b.Channels
			for j := 0; j < b.Count; j++ {
				if _, ok := want[b.Offset+j]; ok {
					want[b.Offset+j] = toImage(b.Pixels[j*per:(j+1)*per], b.Height, b.Width, b.Channels)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read split %s for its gallery: %w", split, err)
		}
		rows := report.GalleryRows(sums, picks, conf, lab, classes, func(i int) image.Image { return want[i] })
		if err := report.RenderGallery(filepath.Join(runDir, rundir.GalleryFile(split)), rows); err != nil {
			return err
		}
		log.Logf("gallery %-5s done in %s: %d clusters x up to %d images in each of 3 groups", split, time.Since(t0).Round(100*time.Millisecond), k, galleryPerGroup(k))
	}
	return nil
}

// toImage wraps one HWC uint8 image: gray for one channel, RGB for three
// (other channel counts show their first channel).
func toImage(px []uint8, h, w, ch int) image.Image {
	if ch == 1 {
		return &image.Gray{Pix: append([]uint8(nil), px...), Stride: w, Rect: image.Rect(0, 0, w, h)}
	}
	im := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := (y*w + x) * ch
			c := color.NRGBA{px[o], px[o], px[o], 255}
			if ch >= 3 {
				c.G, c.B = px[o+1], px[o+2]
			}
			im.SetNRGBA(x, y, c)
		}
	}
	return im
}

// buildReport renders the plots and report.md/report.html of a finished
// run. Pictures never fail a run: a problem is a warning.
func buildReport(runDir string, log trialLog) {
	files, err := report.Build(runDir)
	if err != nil {
		log.Logf("warning: report: %v; rebuild it with: clusterlab report %s", err, runDir)
		return
	}
	for _, n := range files.Notes {
		log.Logf("report: %s", n)
	}
	log.Logf("report: %s (%d plots)", files.HTML, len(files.Plots))
}

// cmdReport is `clusterlab report RUN_DIR...`: redraws the plots and the
// report of finished runs from their directories alone (the galleries,
// which need the dataset's images, are kept as the run drew them).
func cmdReport(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"report needs at least one run directory"}
	}
	for _, dir := range args {
		if strings.HasPrefix(dir, "-") {
			return usageError{"report: unknown flag " + dir}
		}
		if _, err := os.Stat(filepath.Join(dir, rundir.MetricsFile)); err != nil {
			return core.InvalidInput(fmt.Errorf("%s is not a finished run directory (no %s): %w", dir, rundir.MetricsFile, err))
		}
		files, err := report.Build(dir)
		if err != nil {
			return err
		}
		for _, n := range files.Notes {
			fmt.Fprintf(stdout, "%s: note: %s\n", dir, n)
		}
		fmt.Fprintf(stdout, "%s\n%s\n", files.Markdown, files.HTML)
		for _, p := range files.Plots {
			fmt.Fprintln(stdout, filepath.Join(dir, p))
		}
	}
	return nil
}
