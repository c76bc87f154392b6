package tbevents

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// fileCounter tells apart the files one process creates in the same
// second, like tensorboardX's global uid.
var fileCounter atomic.Int64

const namePrefix = "events.out.tfevents."

// newFilePath names a new event file in dir as tensorboardX does:
// events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>.<counter>.
// TensorBoard picks up any file whose name contains "tfevents" and reads
// a directory's files in name order, following only the last one by
// default; so when existing files (sorted paths) would sort after the
// new name (several in the same second, another host or pid, a clock
// that went back), the seconds are moved past theirs, which keeps the new
// file last.
func newFilePath(dir string, now time.Time, existing []string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.NewReplacer("/", "_", `\`, "_").Replace(host)
	secs := now.Unix()
	last := ""
	if len(existing) > 0 {
		last = filepath.Base(existing[len(existing)-1])
		if s, ok := nameSeconds(last); ok && s > secs {
			secs = s
		}
	}
	for try := 0; ; try++ {
		name := fmt.Sprintf("%s%010d.%s.%d.%d", namePrefix, secs, host, os.Getpid(), fileCounter.Add(1))
		// A foreign name that no seconds value sorts after (not in this
		// format) is left to sort where it does after a few tries.
		if name > last || try == 3 {
			return filepath.Join(dir, name)
		}
		secs++
	}
}

// nameSeconds reads the seconds of an event file name in the format of
// TensorFlow, TensorBoard and tensorboardX.
func nameSeconds(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, ".")
	s, err := strconv.ParseInt(digits, 10, 64)
	return s, err == nil && s >= 0
}
