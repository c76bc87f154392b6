// Command clusterlab-dataset-images is a dataset plugin: a folder (or a
// list) of image files, read as torchvision 0.14's ImageFolder reads it and
// decoded to RGB exactly as Pillow 9.4's Image.open(f).convert("RGB") does,
// so that images, labels and their order equal those of the PyTorch
// pipelines (SCAN, TEMI) clusterlab is compared with.
//
// # Layouts (option layout; root says where)
//
//   - folders: one subfolder of root per class, ImageFolder's layout. The
//     classes are the subfolder names sorted as Python sorts strings (by
//     code point; "B" before "a"); the label is the index of the class.
//     Every image file at any depth below a class folder belongs to it
//     (symbolic links followed); files directly in root are ignored.
//   - flat: every image file below root, at any depth, without labels
//     (label -1). The runner then needs clusters set (--set clusters=N).
//   - list: root is a CSV file (TSV when named .tsv or .tab, or when its
//     header holds a tab) whose first row names the columns: path_column
//     (default "path"; relative to the list file's folder, or absolute),
//     optionally label_column (default "label") and "split" (train, test
//     or val; else every row is train). Rows keep the file's order. An
//     empty label or -1 is unknown. When every label is a non-negative
//     integer, labels are class indices and the classes are "0".."max";
//     otherwise labels are class names, and the classes are the distinct
//     names sorted as ImageFolder sorts folders.
//   - auto (default): list when root is a file; for a folder, folders when
//     it (or each split folder) has subfolders, else flat.
//
// Splits (option splits): when every subfolder of root is named train,
// test or val and train is one of them, each is a split, laid out as
// above (class-folder splits must have the same classes); otherwise, or
// with splits: none, root is the train split. Splits are reported train,
// test, val.
//
// # Order
//
// The images of a split are in torchvision's order, which is the row order
// of every array clusterlab writes: class by class in class order, and in
// a class (or a flat folder) the folders os.walk(followlinks=True) visits,
// sorted by their whole path, then each folder's files sorted by name (so
// "sub b/x.png" and "sub-b/x.png" come before "sub/x.png"). Hidden files
// are read like others, as torchvision reads them. A symbolic link that
// loops back to a folder being walked is an error (torchvision would
// follow it until the path is too long).
//
// # Which files are images
//
// Files whose lower-cased name ends with one of extensions (default
// torchvision's IMG_EXTENSIONS, .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff
// .webp, and .gif, which ImageFolder leaves out: set extensions without
// .gif to list exactly ImageFolder's files) are images; every other file
// (.DS_Store, notes.txt) is ignored, as ImageFolder ignores it. The format is read from
// the content, as Pillow reads it: a PNG named .jpg is a PNG.
//
// # Formats and pixels
//
// JPEG, PNG, GIF (first frame), BMP (including RLE and OS/2), WebP (lossy,
// lossless, animated: first frame), TIFF (first image, uncompressed, LZW,
// deflate, PackBits; orientation applied as Pillow applies it) and
// PBM/PGM/PPM, in every mode Pillow gives them: 1-bit, grey, 16-bit grey
// (clipped to 255 as Pillow's mode I), palette, grey or colour with alpha
// (alpha dropped), CMYK (Pillow's cmyk2rgb). Pixels equal Pillow's
// exactly, for JPEG and WebP too: they are decoded by the libraries Pillow
// links on Debian (libjpeg62-turbo, libwebp) with Pillow's settings.
// EXIF orientation of JPEGs is not applied (Pillow does not apply it).
// Images may be of any size; a batch holds images of one size, and the
// dataset's height and width are 0 when sizes vary. Images larger than
// Pillow's decompression-bomb limit (178,956,970 pixels) are refused. See
// the package datasets/images/decode for the details per format.
//
// # Class subsets (options classes, classes_order)
//
// classes names a text file of class folders (or list labels), one per
// line; blank lines and lines starting with # are skipped. A line is a
// folder name as it stands when such a folder exists, else its first
// whitespace-separated word: SCAN's ImageNet subset files
// (imagenet_50.txt: "n01558993 robin, American robin, Turdus migratorius")
// work as they are. The readable rest of the line is ignored: class names
// stay the folder names (wnids), which are unique while ImageNet's readable
// names are not (two classes are "crane", two "maillot"). Only the listed
// classes are read; every listed folder must exist in every split. The
// labels are the order of the file (classes_order: file, as SCAN's
// ImageNetSubset numbers them) or of the sorted names (classes_order:
// sorted, as ImageFolder on a folder holding just those classes).
//
// # Identity
//
// The identity (the key of cached embeddings) covers the options that
// change the images, labels or order, the classes, and for every image its
// path relative to root, its label and its size and modification time
// (fingerprint: stat) or the SHA-256 of its content (fingerprint: sha256,
// which reads every file when the dataset is described), and the versions
// of the JPEG and WebP libraries. Adding, removing, renaming or changing an
// image recomputes; moving the whole folder elsewhere does not.
//
// # Errors (option on_error)
//
// Describe reads every image's header and checks that the file is whole
// (a JPEG's end-of-image marker, a PNG's IEND chunk, the sizes a header
// declares); Read decodes. A file that is not an image, is truncated or
// corrupt, cannot be opened (a dangling symbolic link, no permission, a
// folder named like an image in a list), or uses a part of its format that
// Pillow 9.4 cannot read stops the run with exit status 2 and a message
// naming the file (on_error: fail, the default). With on_error: skip such
// files are left out (every image is then decoded once when the dataset is
// described), counted in the identity and listed in DatasetInfo.Skipped,
// which the runner writes to skipped.csv in the run directory. Layout
// errors are exit status 2 too: a missing root, an empty folder, a class
// folder without images (torchvision's FileNotFoundError), splits with
// different classes, a classes file naming a missing folder.
//
// Decoding runs on every core, images in order, a bounded number ahead;
// batches hold at most the runner's batch size and 4 MiB of pixels, so a
// dataset of any number of images is never in memory at once.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeDataset(Dataset{}) }
