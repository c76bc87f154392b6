# Shared set-up of the bench/*_compare.sh scripts; source it, then call
# bench_setup and bench_data.

PY=/usr/bin/python3

# bench_setup NAME MODULE PACKAGE: go to the repository root, keep GoMLX
# from installing anything, check that Debian's Python has MODULE (the
# apt package PACKAGE), and make $tmp, removed on exit.
bench_setup() {
    local name=$1 module=$2 package=$3
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    export GOMLX_NO_AUTO_INSTALL=1
    if ! "$PY" -c "import $module" 2>/dev/null; then
        echo "$name: $PY cannot import $module; install it with: apt-get install -y $package" >&2
        exit 2
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
}

# bench_data [GEN_ARGS...]: sets x to the data of $DATA: mnist (GoMNIST's
# train pixels from the Go module cache), random (bench/knn_run gen with
# -n $N -d $D and GEN_ARGS) or the path of a .npy file.
bench_data() {
    case $DATA in
    mnist)
        "$PY" bench/knn_numpy.py mnist --out "$tmp/x.npy" >&2
        x=$tmp/x.npy
        ;;
    random)
        [ -x "$tmp/knn_run" ] || go build -tags onnx -o "$tmp/knn_run" ./bench/knn_run
        "$tmp/knn_run" gen -n "$N" -d "$D" "$@" -out "$tmp/x.npy"
        x=$tmp/x.npy
        ;;
    *)
        x=$DATA
        ;;
    esac
}
