package decode

/*
#cgo LDFLAGS: -lwebpdemux -lwebp
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

enum { clWebPOK = 0, clWebPNew = 1, clWebPFrame = 2, clWebPSize = 3 };

// clDecodeWebP decodes the first frame of a WebP file into dst (w*h*3 RGB
// bytes) as Pillow 9.4 does: WebPAnimDecoder with its default options
// (RGBA output, no threads), the first frame's canvas, alpha dropped.
static int clDecodeWebP(const uint8_t *data, size_t size, uint8_t *dst, int w, int h, int *gotW, int *gotH) {
	WebPData wd;
	wd.bytes = data;
	wd.size = size;
	WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, NULL);
	if (!dec) return clWebPNew;
	WebPAnimInfo info;
	if (!WebPAnimDecoderGetInfo(dec, &info)) {
		WebPAnimDecoderDelete(dec);
		return clWebPNew;
	}
	*gotW = info.canvas_width;
	*gotH = info.canvas_height;
	if ((int)info.canvas_width != w || (int)info.canvas_height != h) {
		WebPAnimDecoderDelete(dec);
		return clWebPSize;
	}
	uint8_t *buf;
	int ts;
	if (!WebPAnimDecoderGetNext(dec, &buf, &ts)) {
		WebPAnimDecoderDelete(dec);
		return clWebPFrame;
	}
	size_t n = (size_t)w * h;
	for (size_t i = 0; i < n; i++) {
		dst[3*i] = buf[4*i];
		dst[3*i+1] = buf[4*i+1];
		dst[3*i+2] = buf[4*i+2];
	}
	WebPAnimDecoderDelete(dec);
	return clWebPOK;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// decodeWebP decodes a WebP file (lossy or lossless, still or animated:
// the first frame) into dst, w*h*3 bytes, with libwebp.
func decodeWebP(data, dst []byte, w, h int) error {
	if len(data) == 0 {
		return badf("empty WebP data")
	}
	if len(dst) != w*h*3 {
		return fmt.Errorf("decode WebP: output buffer of %d bytes for %dx%d RGB", len(dst), w, h)
	}
	var gotW, gotH C.int
	rc := C.clDecodeWebP((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(w), C.int(h), &gotW, &gotH)
	switch rc {
	case C.clWebPOK:
		return nil
	case C.clWebPSize:
		return badf("WebP is %dx%d, its header said %dx%d (the file changed?)", gotW, gotH, w, h)
	case C.clWebPNew:
		return badf("corrupt WebP: libwebp cannot parse it (truncated or damaged)")
	}
	return badf("corrupt WebP: libwebp cannot decode its first frame (truncated or damaged)")
}
