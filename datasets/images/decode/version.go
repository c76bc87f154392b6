package decode

/*
#include <stdio.h>
#include <jpeglib.h>
#include <webp/decode.h>

#ifndef LIBJPEG_TURBO_VERSION
#define LIBJPEG_TURBO_VERSION unknown
#endif
#define CL_STR2(x) #x
#define CL_STR(x) CL_STR2(x)
static const char *clJPEGVersion(void) { return CL_STR(LIBJPEG_TURBO_VERSION); }
*/
import "C"

import "fmt"

// libraries is computed once: the versions cannot change while the
// program runs.
var libraries = func() string {
	v := int(C.WebPGetDecoderVersion())
	return fmt.Sprintf("libjpeg-turbo-%s,libwebp-%d.%d.%d", C.GoString(C.clJPEGVersion()), v>>16, v>>8&0xFF, v&0xFF)
}()

// Libraries names the C libraries that decode JPEG and WebP, with their
// versions (as "libjpeg-turbo-2.1.5,libwebp-1.2.4"): another version may
// give other pixels, so whatever caches results computed from decoded
// pixels should key them by it.
func Libraries() string { return libraries }
