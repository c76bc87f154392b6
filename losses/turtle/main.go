// Command clusterlab-loss-turtle is the TURTLE loss plugin (Gadetsky,
// Jiang and Brbić, "Let Go of Your Labels with Unsupervised Transfer",
// ICML 2024): it finds the labelling of the train images that a linear
// classifier on frozen features learns best, on one or several
// representation spaces at once, as /work/shared/TURTLE.md describes.
//
// Unlike the other losses it does not run in the shared trainer of
// core/train: it implements core.Loss with its own training loop on
// GoMLX, on the same backends (core/backend), and is served with
// plugins.ServeLoss. Each outer iteration (the labelling of a batch, M
// inner Adam steps of the inner linear classifiers, the outer loss, its
// gradient and the outer Adam step) is one execution of one compiled
// graph (graph.go) whose state stays on the device (run.go); only a few
// scalars come back per iteration. The embeddings are used as given, one
// task encoder per space (req.Spaces), and req.Neighbours is ignored.
//
// Outputs (core/rundir names): assign_<split>.npy [1, N] int32 and
// probs_<split>.npy [N, C] float32 (tau on all spaces, the argmax's
// source) for every split, history.jsonl (one record per outer
// iteration, written at checkpoints and at the end) and checkpoint.npz
// (checkpoint.go). Randomness is a function of the seed alone (rng.go),
// so an interrupted run resumed from its checkpoint writes the same bytes
// as an uninterrupted one.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeLoss(New()) }
