#!/usr/bin/env bash
# Installs the ONNX Runtime shared library (1.30.0, CPU, Linux x64) into the
# project-local folder .deps/onnxruntime/ from the npm package
# onnxruntime-node@1.30.0, which ships it prebuilt. npm is only used to
# fetch the package tarball (`npm pack`, no install scripts run), so nothing
# else is downloaded, now or at run time. Idempotent: a correct install is
# left alone.
set -euo pipefail
VERSION=1.30.0
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps/onnxruntime"
lib="$dest/libonnxruntime.so"
stamp="$dest/VERSION"

if [ -f "$lib" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) arch=x64 ;;
  Linux/aarch64) arch=arm64 ;;
  *) echo "setup-onnxruntime: unsupported platform $(uname -s)/$(uname -m); set ONNXRUNTIME_SHARED_LIBRARY_PATH to an ONNX Runtime $VERSION library" >&2; exit 1 ;;
esac
if ! command -v npm >/dev/null; then
  echo "setup-onnxruntime: npm is needed to fetch onnxruntime-node@$VERSION (apt-get install npm), or set ONNXRUNTIME_SHARED_LIBRARY_PATH" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup-onnxruntime: fetching onnxruntime-node@$VERSION from the npm registry" >&2
(cd "$tmp" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null)
tar -xzf "$tmp/onnxruntime-node-$VERSION.tgz" -C "$tmp" "package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
mkdir -p "$dest"
cp "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "$VERSION" > "$stamp"
echo "setup-onnxruntime: installed $lib" >&2
