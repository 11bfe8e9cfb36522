# Shared set-up for scripts/tour and scripts/test (sourced, not run): the Debian data package, a
# virtual environment in .venv, the Python packages, and the data in the Keras cache.
# Safe to run again: each step is skipped when already done.

DATA_DIR=/usr/share/datasets/fashion-mnist
VENV="${KERAS_TRICKS_VENV:-.venv}"

say() { printf '\033[1m[keras-tricks]\033[0m %s\n' "$*" >&2; }

ensure_data_package() {
    if [ -f "$DATA_DIR/train-images-idx3-ubyte.gz" ]; then return 0; fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "No apt-get here: Fashion-MNIST will be downloaded by Keras (needs internet)."
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            say "Not root and no sudo: cannot install dataset-fashion-mnist; Keras will try to download."
            return 0
        fi
    fi
    say "Installing Debian's package dataset-fashion-mnist (the real Fashion-MNIST, offline) ..."
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null \
        || say "apt-get could not install dataset-fashion-mnist; Keras will try to download the data."
}

ensure_venv() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        say "keras-tricks needs Python >= 3.10; '$python' is $("$python" --version 2>&1). Set PYTHON=..."
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "Creating the virtual environment $VENV ..."
        "$python" -m venv "$VENV"
    fi
    # Reinstall only when the dependencies changed.
    local stamp="$VENV/.keras-tricks-installed"
    local want
    want="$(cat setup.cfg pyproject.toml scripts/_setup.sh | sha256sum | cut -c1-16)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "Installing keras-tricks and its dependencies into $VENV (a few minutes the first time) ..."
        # torch first, pinned: an unpinned torch requirement would pull the newest build with its CUDA
        # packages, several GB; 2.13.0 is the CPU build we test.
        "$VENV/bin/pip" install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" >&2 || true
        "$VENV/bin/pip" install -q -e ".[test,docs,plot]" 2>&1 | grep -v "is ignored" >&2 || true
        "$VENV/bin/python" -c "import keras, tensorflow, jax, torch, pytest, mkdocs" \
            || { say "The installation failed (see above)."; exit 1; }
        echo "$want" > "$stamp"
    fi
}

ensure_fashion_mnist() {
    say "Checking Fashion-MNIST (Keras cache, else Debian's package, else download) ..."
    KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" - <<'PY'
import sys
from keras_tricks.datasets import DatasetError, load_fashion_mnist
try:
    (x, _), (v, _), (t, _) = load_fashion_mnist(pixels="raw")
except DatasetError as error:
    sys.exit(f"[keras-tricks] {error}")
print(f"[keras-tricks] Fashion-MNIST ready: {len(x):,} train, {len(v):,} validation, {len(t):,} test.",
      file=sys.stderr)
PY
}

setup_all() {
    ensure_data_package
    ensure_venv
    ensure_fashion_mnist
}
