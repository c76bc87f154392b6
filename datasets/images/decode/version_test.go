package decode

import (
	"regexp"
	"testing"
)

func TestLibraries(t *testing.T) {
	if l := Libraries(); !regexp.MustCompile(`^libjpeg-turbo-\d+\.\d+\.\d+,libwebp-\d+\.\d+\.\d+$`).MatchString(l) {
		t.Errorf("Libraries() = %q, want libjpeg-turbo-X.Y.Z,libwebp-X.Y.Z", l)
	}
}
