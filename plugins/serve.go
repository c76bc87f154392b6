package plugins

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/hostmem"
	pb "github.com/clusterlab/clusterlab/plugins/proto"
)

// parentPollInterval is how often a plugin checks that the runner that
// started it is still alive.
const parentPollInterval = 500 * time.Millisecond

// inflightGrace bounds how long a stopping plugin waits for its work
// calls to wind down (see workCalls): when the runner stopped it, and on
// SIGTERM. (The runner kills a plugin that has not stopped a few seconds
// after it asked it to; Slurm sends SIGKILL KillWait after SIGTERM.)
const inflightGrace = 10 * time.Second

// ServeDataset serves d as a dataset plugin. It is the whole main of a
// dataset plugin executable (clusterlab-dataset-<name>):
//
//	func main() { plugins.ServeDataset(mydataset.New()) }
//
// It returns when the runner stops the plugin. Like go-plugin's Serve it
// owns the process: it exits with status 1 when the program is run by hand
// instead of by the runner, and as soon as the runner is gone.
func ServeDataset(d core.Dataset) {
	serve(core.KindDataset, func(s *grpc.Server) { pb.RegisterDatasetServer(s, &datasetServer{impl: d}) })
}

// ServeBackbone serves b as a backbone plugin (clusterlab-backbone-<name>);
// see ServeDataset.
func ServeBackbone(b core.Backbone) {
	serve(core.KindBackbone, func(s *grpc.Server) { pb.RegisterBackboneServer(s, &backboneServer{impl: b}) })
}

// ServeLoss serves l as a loss plugin (clusterlab-loss-<name>); see
// ServeDataset. A loss written as a GoMLX graph uses lossplugin.Serve,
// which runs the shared trainer around the graph; ServeLoss is for losses
// that train by other means (their own training loop behind core.Loss).
func ServeLoss(l core.Loss) {
	serve(core.KindLoss, func(s *grpc.Server) { pb.RegisterLossServer(s, &lossServer{impl: l}) })
}

func serve(kind string, register func(*grpc.Server)) {
	exe := filepath.Base(os.Args[0])
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a clusterlab %s plugin: the clusterlab runner starts it (see `clusterlab plugins`); it is not meant to be run by hand.\n", exe, kind)
		os.Exit(1)
	}
	// go-plugin redirects os.Stderr into its stdio stream, which loses the
	// last words of a process that exits: put the real stderr back (see
	// guard) so that the runner reads it straight from the pipe.
	realStderr := os.Stderr
	go watchParent(os.Getppid(), realStderr, exe)
	// Under a memory cgroup or ulimit, collect garbage before the bound
	// rather than run out of memory with it.
	hostmem.LimitGo()
	// Slurm signals every process of a job, the plugins too: on SIGTERM
	// the work in progress stops as when the runner cancels it (the
	// trainer saves its checkpoint) before the process exits.
	handleSIGTERM(work, inflightGrace, realStderr, exe)

	// go-plugin's own log: errors only (such as why it cannot create its
	// socket), everything with CLUSTERLAB_DEBUG=1.
	level, jsonLogs := hclog.Error, false
	if debugEnabled() {
		level, jsonLogs = hclog.Debug, true
	}
	var (
		restore sync.Once
		served  atomic.Bool
	)
	g := guard{exe: exe, stderr: realStderr, restoreStderr: func() {
		restore.Do(func() {
			os.Stderr = realStderr
			served.Store(true)
		})
	}}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{kind: &grpcPlugin{register: register}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts,
				grpc.MaxRecvMsgSize(maxMessageBytes),
				grpc.ChainUnaryInterceptor(g.unary),
				grpc.ChainStreamInterceptor(g.stream))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       exe,
			Level:      level,
			Output:     realStderr,
			JSONFormat: jsonLogs,
		}),
	})
	// The runner stopped us (after an interrupt, say): let the work calls
	// still running finish their cleanup, such as the trainer's checkpoint
	// on cancellation, before the process exits. Bounded: the runner kills
	// a plugin that does not stop within a few seconds anyway.
	work.wait(inflightGrace)
	if !served.Load() {
		// go-plugin gave up before serving anything, without exiting.
		fmt.Fprintf(realStderr, "%s: could not start serving the clusterlab plugin protocol (see the error above)\n", exe)
		os.Exit(1)
	}
}

// watchParent exits the process when the runner that started it is gone,
// even when it was killed with SIGKILL: the process is then re-parented and
// its parent pid changes. (The runner also sets a parent-death signal where
// the OS has one; this covers the others and a runner that is not ours.)
func watchParent(ppid int, stderr *os.File, exe string) {
	if ppid <= 1 {
		return // started by init: nothing to watch
	}
	t := time.NewTicker(parentPollInterval)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			fmt.Fprintf(stderr, "%s: the clusterlab runner (pid %d) is gone; exiting\n", exe, ppid)
			os.Exit(1)
		}
	}
}

// guard wraps every RPC of the plugin: it restores the real stderr (the
// first RPC comes after go-plugin has swapped it) and turns a panic of the
// implementation into an INTERNAL error, with the stack on stderr, so that
// the runner reports the panic's message rather than only a crash. It
// registers the streaming work calls with work, whose SIGTERM handling
// cancels them.
type guard struct {
	exe           string
	stderr        io.Writer // the real stderr
	restoreStderr func()
}

func (g guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	g.restoreStderr()
	defer func() {
		if r := recover(); r != nil {
			err = panicError(info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

// workMethods are the streaming work calls of the protocol. go-plugin's
// own streams (its stdio and broker streams) last as long as the process
// and are not work to wait for.
var workMethods = map[string]bool{
	pb.Dataset_Read_FullMethodName:   true,
	pb.Backbone_Fit_FullMethodName:   true,
	pb.Backbone_Embed_FullMethodName: true,
	pb.Loss_Fit_FullMethodName:       true,
}

func (g guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	g.restoreStderr()
	if !workMethods[info.FullMethod] {
		return handler(srv, ss)
	}
	ctx, end, ok := work.begin(ss.Context())
	if !ok {
		return status.Errorf(codes.Unavailable, "%s: the plugin is stopping", info.FullMethod)
	}
	defer end()
	defer func() {
		if r := recover(); r != nil {
			err = panicError(info.FullMethod, r)
		}
		// The process exits as soon as the stopped calls have returned,
		// possibly before their status reaches the runner: say on stderr
		// (which the runner quotes) how the call ended, such as where the
		// trainer saved its checkpoint.
		if work.stopping() {
			outcome := "done"
			if err != nil {
				outcome = status.Convert(err).Message()
			}
			fmt.Fprintf(g.stderr, "%s: %s ended after SIGTERM: %s\n", g.exe, path.Base(info.FullMethod), outcome)
		}
	}()
	return handler(srv, stoppableStream{ServerStream: ss, ctx: ctx})
}

// stoppableStream is a server stream whose context is also cancelled when
// the plugin process receives SIGTERM (see workCalls.begin): the servers
// hand stream.Context() to the implementation.
type stoppableStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stoppableStream) Context() context.Context { return s.ctx }

func panicError(method string, r any) error {
	fmt.Fprintf(os.Stderr, "panic: %v\n\n%s\n", r, debug.Stack())
	return status.Errorf(codes.Internal, "panic in %s: %v", method, r)
}

// fillDescription sets Kind, and Name when the plugin left it empty, from
// the executable's name.
func fillDescription(d *core.Description, kind string) {
	if d.Kind == "" {
		d.Kind = kind
	}
	if d.Name == "" {
		d.Name = nameFromPath(kind, os.Args[0])
	}
}

// nameFromPath returns the <name> of a clusterlab-<kind>-<name> executable,
// or the file's base name when it is not named so.
func nameFromPath(kind, path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".exe")
	if rest, ok := strings.CutPrefix(base, "clusterlab-"+kind+"-"); ok && rest != "" {
		return rest
	}
	return base
}

// invalidOptions is the status of options that are not even valid JSON.
func invalidOptions(err error) error {
	return status.Error(codes.InvalidArgument, err.Error())
}
