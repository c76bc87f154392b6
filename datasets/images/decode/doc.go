// Package decode reads image files into RGB pixels exactly as Pillow 9.4's
// Image.open(f).convert("RGB") does: the loader of torchvision's
// ImageFolder, so that pixels, and the embeddings computed from them, equal
// those of the PyTorch pipelines clusterlab is compared with.
//
// Probe reads a file's header (format and size) and checks cheaply that the
// file is complete, without decoding it; DecodeInto decodes a whole file
// held in memory into a caller's buffer. Both take the format from the
// content, as Pillow does (a PNG named .jpg is a PNG). Every reason a file
// cannot be read is an *Error whose message names the problem.
//
// What is read, and how (Pillow's plugin and mode in brackets):
//
//   - JPEG (JpegImagePlugin; L, RGB, CMYK): libjpeg-turbo through cgo, the
//     libjpeg62-turbo that Pillow links on Debian, with Pillow's settings:
//     libjpeg's defaults (ISLOW DCT, fancy upsampling, the colour space
//     libjpeg infers from the JFIF/Adobe markers), output GRAYSCALE, RGB or
//     CMYK by the number of components; CMYK samples inverted (Pillow
//     assumes Adobe's convention for every 4-component JPEG) and converted
//     by Pillow's cmyk2rgb. EXIF orientation is not applied (Pillow's open
//     and convert do not apply it). Data that ends before the last line is
//     an error, as Pillow's "image file is truncated". 8-bit samples and 1,
//     3 or 4 components only; lossless JPEG is refused (libjpeg-turbo 2.1
//     cannot decode it).
//   - PNG (PngImagePlugin; 1, L, I, P, LA, RGB, RGBA): Go's image/png, then
//     Pillow's conversions: 1-, 2- and 4-bit grey scaled to 0..255, 16-bit
//     grey (mode I) clipped to 255, other 16-bit samples their high byte,
//     palette indices past the PLTE entries grey (i, i, i) as in Pillow's
//     default palette, alpha and tRNS dropped.
//   - GIF (GifImagePlugin; P or L): the first frame, on an image the size of
//     the logical screen grown to hold the frame, first filled with the
//     frame's transparent index or 0; colours from the frame's palette
//     (local, else global), indices past its end grey.
//   - BMP (BmpImagePlugin): 1, 4, 8, 16, 24 and 32 bits, uncompressed,
//     bitfields (the layouts Pillow reads) and RLE4/RLE8, OS/2 and Windows
//     headers, bottom-up and top-down, following Pillow's reader step by
//     step (a grey palette read as mode 1 or L, 32-bit alpha ignored
//     without bitfields).
//   - WebP (WebPImagePlugin): libwebp through cgo, WebPAnimDecoder with its
//     default options (RGBA), as Pillow decodes every WebP: lossy, lossless,
//     with alpha, animated (the first frame's canvas); alpha dropped.
//   - TIFF (TiffImagePlugin): the first image, in every layout of Pillow's
//     OPEN_INFO table except 12-bit grey, YCbCr and CIE L*a*b*; strips or
//     tiles, contiguous or separate planes, uncompressed, LZW, deflate or
//     PackBits, horizontal predictor, fill order 2; converted as Pillow's
//     unpackers and convert("RGB") do (16-bit grey clipped, premultiplied
//     alpha undone, CMYK by cmyk2rgb, palette from the colour map's high
//     bytes) and turned by the orientation tag, which Pillow applies to TIFF
//     on load.
//   - PBM, PGM, PPM (PpmImagePlugin; binary P4-P6 and plain P1-P3): samples
//     scaled by round(v / maxval * 255) with Python's rounding unless maxval
//     is 255, 16-bit grey as mode I clipped to 255, bits 1 black.
//
// Lossless formats give Pillow's pixels exactly, and so do JPEG and WebP:
// they are decoded by the very libraries Pillow calls, with its settings.
// Files larger than Pillow's decompression-bomb limit are refused.
package decode
