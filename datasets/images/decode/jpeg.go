package decode

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// clErr is libjpeg's error manager with a way out (longjmp, as Pillow's
// JpegDecode.c does) and a note of the premature-end warning.
typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	int eof;
	char msg[JMSG_LENGTH_MAX];
} clErr;

static void clErrorExit(j_common_ptr c) {
	clErr *e = (clErr *)c->err;
	(*c->err->format_message)(c, e->msg);
	longjmp(e->jb, 1);
}

// Warnings are silent, as in Pillow (its output_message does nothing), but
// running out of data is remembered: Pillow fails then ("image file is
// truncated"), while libjpeg's memory source pads with a fake EOI.
static void clEmit(j_common_ptr c, int level) {
	clErr *e = (clErr *)c->err;
	if (level < 0) {
		if (c->err->msg_code == JWRN_JPEG_EOF) e->eof = 1;
		c->err->num_warnings++;
	}
}

enum { clOK = 0, clFail = 1, clTruncated = 2, clSize = 3, clLayers = 4 };

// clDecodeJPEG decodes data into dst (w*h*3 RGB bytes) as Pillow 9.4 does:
// libjpeg's defaults (ISLOW DCT, fancy upsampling, the colour space
// libjpeg infers), out_color_space GRAYSCALE, RGB or CMYK by the number of
// components of the frame; CMYK samples inverted ("CMYK;I", Pillow assumes
// Adobe's convention for every 4-component JPEG) and converted by
// Pillow's cmyk2rgb. On error msg holds libjpeg's message.
static int clDecodeJPEG(const unsigned char *data, unsigned long size, unsigned char *dst,
		int w, int h, char *msg, int *gotW, int *gotH) {
	struct jpeg_decompress_struct cinfo;
	clErr err;
	JSAMPROW rows[16];
	unsigned char *volatile tmp = NULL;
	memset(&cinfo, 0, sizeof(cinfo));
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = clErrorExit;
	err.pub.emit_message = clEmit;
	err.eof = 0;
	err.msg[0] = 0;
	if (setjmp(err.jb)) {
		strncpy(msg, err.msg, JMSG_LENGTH_MAX);
		free(tmp);
		jpeg_destroy_decompress(&cinfo);
		return err.eof ? clTruncated : clFail;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, size);
	jpeg_read_header(&cinfo, TRUE);
	int comps = cinfo.num_components;
	switch (comps) {
	case 1: cinfo.out_color_space = JCS_GRAYSCALE; break;
	case 3: cinfo.out_color_space = JCS_RGB; break;
	case 4: cinfo.out_color_space = JCS_CMYK; break;
	default:
		jpeg_destroy_decompress(&cinfo);
		*gotW = comps;
		return clLayers;
	}
	jpeg_start_decompress(&cinfo);
	*gotW = cinfo.output_width;
	*gotH = cinfo.output_height;
	if ((int)cinfo.output_width != w || (int)cinfo.output_height != h) {
		jpeg_destroy_decompress(&cinfo);
		return clSize;
	}
	size_t rowBytes = (size_t)w * 3;
	if (comps == 3) {
		while (cinfo.output_scanline < cinfo.output_height) {
			int n = cinfo.output_height - cinfo.output_scanline;
			if (n > 16) n = 16;
			for (int i = 0; i < n; i++) rows[i] = dst + (size_t)(cinfo.output_scanline + i) * rowBytes;
			if (jpeg_read_scanlines(&cinfo, rows, n) == 0) break;
		}
	} else {
		tmp = malloc((size_t)w * comps);
		if (!tmp) {
			strcpy(msg, "out of memory");
			jpeg_destroy_decompress(&cinfo);
			return clFail;
		}
		rows[0] = tmp;
		while (cinfo.output_scanline < cinfo.output_height) {
			unsigned char *out = dst + (size_t)cinfo.output_scanline * rowBytes;
			if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
			if (comps == 1) {
				for (int x = 0; x < w; x++) out[3*x] = out[3*x+1] = out[3*x+2] = tmp[x];
			} else {
				for (int x = 0; x < w; x++) {
					const unsigned char *p = tmp + 4*x;
					// "CMYK;I": inverted on unpacking, then cmyk2rgb with
					// MULDIV255(a, b) = ((a*b+128) + ((a*b+128) >> 8)) >> 8.
					int c = 255 - p[0], m = 255 - p[1], y = 255 - p[2], k = 255 - p[3];
					int nk = 255 - k, t;
					t = c * nk + 128; int r = nk - (((t >> 8) + t) >> 8);
					t = m * nk + 128; int g = nk - (((t >> 8) + t) >> 8);
					t = y * nk + 128; int b = nk - (((t >> 8) + t) >> 8);
					out[3*x] = r < 0 ? 0 : r > 255 ? 255 : r;
					out[3*x+1] = g < 0 ? 0 : g > 255 ? 255 : g;
					out[3*x+2] = b < 0 ? 0 : b > 255 ? 255 : b;
				}
			}
		}
		free(tmp);
		tmp = NULL;
	}
	int eof = err.eof;
	int complete = cinfo.output_scanline >= cinfo.output_height;
	// No jpeg_finish_decompress: it would only read on to the EOI marker,
	// which Pillow does not require once every line is decoded.
	jpeg_destroy_decompress(&cinfo);
	if (eof || !complete) return clTruncated;
	return clOK;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// decodeJPEG decodes a JPEG file into dst, w*h*3 bytes, with libjpeg-turbo
// (the libjpeg62-turbo that Pillow links on Debian).
func decodeJPEG(data, dst []byte, w, h int) error {
	if len(data) == 0 {
		return badf("empty JPEG data")
	}
	if len(dst) != w*h*3 {
		return fmt.Errorf("decode JPEG: output buffer of %d bytes for %dx%d RGB", len(dst), w, h)
	}
	var msg [C.JMSG_LENGTH_MAX + 1]C.char
	var gotW, gotH C.int
	rc := C.clDecodeJPEG((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&dst[0])), C.int(w), C.int(h), &msg[0], &gotW, &gotH)
	switch rc {
	case C.clOK:
		return nil
	case C.clTruncated:
		return badf("truncated JPEG: the data ends before the last line of the image")
	case C.clSize:
		return badf("JPEG is %dx%d, its header said %dx%d (the file changed?)", gotW, gotH, w, h)
	case C.clLayers:
		return unsupportedf("JPEG with %d components (only 1, 3 and 4 are images Pillow reads)", gotW)
	}
	return badf("corrupt JPEG: %s", C.GoString(&msg[0]))
}
