package plugins

import (
	"context"
	"errors"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/clusterlab/clusterlab/core"
)

// Handshake is the go-plugin handshake shared by the runner and every
// plugin, whatever its kind. Bump ProtocolVersion only with an
// incompatible change of plugins/proto/clusterlab.proto.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CLUSTERLAB_PLUGIN",
	MagicCookieValue: "clusterlab-plugin-v1-5f0c2e8a",
}

const (
	// maxChunkBytes is the largest image or embedding payload sent in one
	// message; bigger batches are split (whole images or rows) so that no
	// message approaches gRPC's default 4 MiB limit.
	maxChunkBytes = 2 << 20
	// maxMessageBytes is what both sides accept, well above maxChunkBytes:
	// a single image larger than maxChunkBytes cannot be split further,
	// and a user's photo decodes to up to 8192x8192x3 = 192 MiB.
	maxMessageBytes = 256 << 20
)

// debugEnabled turns on go-plugin's logging on both sides.
func debugEnabled() bool { return os.Getenv("CLUSTERLAB_DEBUG") == "1" }

// isKind reports whether kind is one of core.Kinds.
func isKind(kind string) bool {
	for _, k := range core.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// grpcPlugin adapts one clusterlab service to go-plugin. On the plugin side
// register adds the service to go-plugin's gRPC server; on the host side
// the connection itself is dispensed and wrapped by the kind's adapter.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	register func(*grpc.Server)
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.register == nil {
		return errors.New("clusterlab: host-side plugin definition cannot serve")
	}
	p.register(s)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}
