// Command clusterlab-dataset-stl10 is the dataset plugin for STL-10
// (Coates, Ng and Lee, AISTATS 2011), read from the binary version its
// authors distribute, delivering what torchvision's STL10 class delivers.
//
// Options: root (required), fold (-1 = all train images, default; or
// 0..9), unlabeled (offer the unlabeled split; default false),
// limit_train, limit_test and limit_unlabeled (default 0 = all images of
// the split; otherwise its first N images as delivered, so after fold
// selection, in the fold's order).
//
// root points at the files the user brings (STL-10 cannot be downloaded
// here):
//
//	stl10_binary.tar.gz -> stl10_binary/  test_X.bin test_y.bin train_X.bin train_y.bin
//	                                      unlabeled_X.bin class_names.txt fold_indices.txt
//
// root may be the archive itself, the unpacked folder itself (named
// stl10_binary or holding class_names.txt or train_X.bin), or a directory
// holding either, as torchvision's root does; there the folder is
// preferred. Only the files the options need must be present
// (unlabeled_X.bin only with unlabeled=true, fold_indices.txt only with a
// fold); other archive members and files are ignored.
//
// Splits: "train" (5000 images as distributed, or the fold's 1000),
// "test" (8000) and, with unlabeled=true, "unlabeled" (100000 images, all
// with label -1: the runner embeds and assigns them like test and leaves
// them out of the label metrics).
//
// Layout and order: the *_X.bin files hold uint8 images of 3x96x96, the
// red, green and blue planes, each in column-major order (the MATLAB
// layout: byte x*96+y of a plane is row y, column x), one image after the
// other. They are delivered upright, 96x96x3 HWC, in file order, pixel for
// pixel as torchvision's STL10 gives them (its transpose (0, 1, 3, 2), then
// (1, 2, 0) in __getitem__). train_y.bin and test_y.bin hold one label
// byte per image, 1..10, delivered as 0..9 (torchvision subtracts 1).
// Class names are the lines of class_names.txt (line i+1 names label i+1,
// delivered as class i). Fold k (fold=k) is line k+1 of fold_indices.txt:
// whitespace-separated 0-based train indices, delivered in the order
// listed, as torchvision's STL10(folds=k) selects them (lines split as
// Python's str.splitlines).
//
// Reading: a folder is read by seeking (the first N images in one
// sequential read, a fold's images one by one). An archive is never
// unpacked to disk nor held in memory: Describe decompresses it once per
// process, from start to end, to hash every member, keep the small ones
// (labels, names, folds) and verify gzip's checksum (the two most recent
// archives' indexes are cached by path, size and modification time); Read
// decompresses from the start to the split's member and streams its
// images, holding one batch (a fold: its images, at most 1000 x 27 KB as
// distributed, to deliver them in the fold's order). Measured on a
// synthetic archive of the official layout (5000 train, 8000 test, 10000
// unlabeled images; 633 MB gzip): Describe 4.8 s, Read of train 2.7 s,
// 77 MB peak RSS; the unpacked folder: 0.5 s and 0.26 s. The real archive
// (2.6 GB, 3.1 GB unpacked) takes about 5 times as long to index.
//
// The identity is the plugin version, the sha256 of the content the
// options deliver (class names, the fold's indices, and the sha256 of each
// image and label file of the splits offered, whole files regardless of
// limits), which the archive and the folder share, the fold, and the image
// counts after limits.
//
// Errors: sizes (whole 27648-byte images), image and label counts, labels
// (1..number of class names), class names (no blank line) and fold
// indices (integers below the train count) are checked. A malformed file
// is a FormatError naming the file, the archive member and the byte offset
// (uncompressed, within the member); it, a missing file and a truncated or
// corrupt archive are invalid input (exit status 2), which Describe
// attributes to the option root.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeDataset(Dataset{}) }
