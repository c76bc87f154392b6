// Command clusterlab-dataset-cifar is the dataset plugin for CIFAR-10,
// CIFAR-100 (100 fine labels) and CIFAR-20 (CIFAR-100 with its 20 coarse
// labels).
//
// Options: name (cifar10 | cifar100 | cifar20, default cifar10), root
// (required), format (auto | binary | python, default auto), limit_train and
// limit_test (default 0 = all images of the split).
//
// CIFAR cannot be downloaded here: root points at the files the user
// brings, in any of the four distributions, packed or unpacked:
//
//	cifar-10-binary.tar.gz   -> cifar-10-batches-bin/  data_batch_1..5.bin test_batch.bin batches.meta.txt
//	cifar-10-python.tar.gz   -> cifar-10-batches-py/   data_batch_1..5 test_batch batches.meta
//	cifar-100-binary.tar.gz  -> cifar-100-binary/      train.bin test.bin fine_label_names.txt coarse_label_names.txt
//	cifar-100-python.tar.gz  -> cifar-100-python/      train test meta
//
// root may be the archive (read as a stream, never unpacked to disk), the
// unpacked folder, or a directory holding either (torchvision's root holds
// both; the folder is preferred). With format=auto the binary version is
// preferred when a directory holds both versions.
//
// Binary records are the label byte (CIFAR-100: coarse, then fine) and
// 3072 pixel bytes: the red, green and blue 32x32 planes, row-major. The
// python files are pickles (Python 2 cPickle, protocol 2) of dicts holding
// the same pixels as a uint8 NumPy array (N, 3072) and the labels as lists;
// they are decoded by a small pickle machine that runs no code. Record
// sizes, counts and labels are checked; errors name the file, the archive
// member and the byte offset, and are invalid input (exit status 2).
//
// Images are delivered 32x32x3, HWC. Class names come from the
// distribution's own meta files. The identity is the plugin version, the
// name, the sha256 of the decoded content (class names, labels, pixels),
// which the four distributions of the same data share, and the image
// counts after limits.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeDataset(Dataset{}) }
