#!/bin/sh
# Regenerates the Go code of clusterlab.proto. Run from any directory
# (go generate ./plugins/proto does). Needs protoc (Debian: apt-get install
# protobuf-compiler) and the two Go generators at these versions, which match
# go.mod's google.golang.org/protobuf v1.36.12 and grpc v1.79.3:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
# (protoc-gen-go-grpc v1.6 emits code that needs grpc >= v1.64.)
set -eu
cd "$(dirname "$0")"
PATH="$(go env GOPATH)/bin:$PATH"
protoc --proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	clusterlab.proto
