"""The book's Fashion-MNIST split, loaded offline when the machine has it.

Where the four files come from, in order:

1. the Keras cache, `$KERAS_HOME/datasets/fashion-mnist/` (default `~/.keras/datasets/fashion-mnist/`),
   where `keras.datasets.fashion_mnist.load_data()` also looks;
2. Debian's package `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist/`), copied into the cache;
3. `keras.datasets.fashion_mnist.load_data()`, which downloads them into the cache.

Each file is checked against the SHA-256 of its *decompressed* content before use: Debian recompressed
the files, so their `.gz` bytes differ from the upstream download while the images are the same.
"""

import gzip
import hashlib
import os
import shutil
import zlib

import numpy as np

from keras_tricks import _checks

__all__ = ["DatasetError", "load_fashion_mnist"]

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

# SHA-256 of the decompressed IDX files (identical for the upstream and the Debian copies).
_SHA256 = {
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
}
# Decompressed sizes: the IDX header (magic, then one 4-byte size per dimension) and the uint8 data.
_SIZES = {
    "train-labels-idx1-ubyte.gz": 8 + 60_000,
    "train-images-idx3-ubyte.gz": 16 + 60_000 * 28 * 28,
    "t10k-labels-idx1-ubyte.gz": 8 + 10_000,
    "t10k-images-idx3-ubyte.gz": 16 + 10_000 * 28 * 28,
}
_PIXELS = ("unit", "raw", "standardized")
_VALIDATION_SIZE = 5000


class DatasetError(OSError):
    """A data file is missing, truncated or corrupt; the message says how to fix it."""


def _keras_cache_dir():
    # Keras's own rule (keras.utils.get_file): $KERAS_HOME, else ~/.keras, else /tmp/.keras when
    # the home directory is not writable.
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if os.path.isdir(home) and not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return os.path.join(home, "datasets", "fashion-mnist")


def _missing(directory):
    return [name for name in _SHA256 if not os.path.isfile(os.path.join(directory, name))]


def _fill_cache(cache_dir, debian_dir):
    """Makes sure the four files are in `cache_dir`, copying or downloading what is missing."""
    missing = _missing(cache_dir)
    if missing and os.path.isdir(debian_dir) and not _missing(debian_dir):
        os.makedirs(cache_dir, exist_ok=True)
        for name in missing:
            shutil.copyfile(os.path.join(debian_dir, name), os.path.join(cache_dir, name))
        missing = []
    if not missing:
        return
    import keras

    try:
        keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # Keras raises a bare Exception on a failed download.
        raise DatasetError(
            f"Fashion-MNIST is not in {cache_dir} (missing: {', '.join(missing)}), Debian's package "
            f"dataset-fashion-mnist is not installed ({debian_dir} not found), and the download failed "
            f"({type(error).__name__}: {error}). On Debian or Ubuntu run "
            "`sudo apt-get install dataset-fashion-mnist`, or connect to the internet, then call again."
        ) from None
    downloaded = _keras_cache_dir()
    if os.path.abspath(downloaded) != os.path.abspath(cache_dir):
        os.makedirs(cache_dir, exist_ok=True)
        for name in missing:
            shutil.copyfile(os.path.join(downloaded, name), os.path.join(cache_dir, name))


def _read_idx(path, expected_sha256, size):
    """Decompresses one IDX file, checks its SHA-256 and returns it as a uint8 array.

    It reads at most `size` bytes, the size of the real file, plus one: a file that decompresses to more
    (a "gzip bomb" in the cache) is refused without being decompressed in full.
    """
    fix = f"Delete {path} and call again: it will be copied from Debian's package or downloaded anew."
    try:
        with gzip.open(path, "rb") as f:
            content = f.read(size + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(
            f"Cannot decompress {path}: {error}. The file is truncated or corrupt. {fix}"
        ) from None
    if len(content) > size:
        raise DatasetError(
            f"{path} decompresses to more than {size:,} bytes, the size of Fashion-MNIST's file: it is "
            f"not that file. {fix}"
        )
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected_sha256:
        raise DatasetError(
            f"{path} has the wrong content: SHA-256 {digest}, expected {expected_sha256}. {fix}"
        )
    n_dims = content[3]
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def load_fashion_mnist(pixels="unit", cache_dir=None, debian_dir=DEBIAN_DIR):
    """Loads Fashion-MNIST split as in the book: 55,000 train, 5,000 validation, 10,000 test.

    The validation set is the last 5,000 images of the official training set, as in chapter 10 and 11 of
    *Hands-On Machine Learning* (`X_train_full[-5000:]`). No network is needed on a machine with Debian's
    `dataset-fashion-mnist` package or with the files already in the Keras cache.

    Args:
        pixels: str. `"unit"` scales pixels to [0, 1] as float32 (the book's `/ 255.`); `"raw"` keeps
            uint8 in [0, 255]; `"standardized"` subtracts the per-pixel mean and divides by the per-pixel
            standard deviation of the 55,000 training images (the SELU section's preprocessing), applied
            to all three sets. Defaults to `"unit"`.
        cache_dir: str. Folder that holds the four `.gz` files. Defaults to the Keras cache,
            `$KERAS_HOME/datasets/fashion-mnist` (`~/.keras/datasets/fashion-mnist`).
        debian_dir: str. Where Debian's package puts the files. Defaults to
            `/usr/share/datasets/fashion-mnist`.

    Returns:
        `((x_train, y_train), (x_valid, y_valid), (x_test, y_test))` with images of shape `(n, 28, 28)`
        and integer labels in [0, 9] of shape `(n,)`.

    Raises:
        DatasetError: a file is missing and can be neither copied nor downloaded, or is truncated or
            corrupt; the message names the file and the fix.

    Example:

    >>> from keras_tricks.datasets import load_fashion_mnist
    >>> (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = load_fashion_mnist()
    >>> x_train.shape, x_valid.shape, x_test.shape
    ((55000, 28, 28), (5000, 28, 28), (10000, 28, 28))
    >>> float(x_train.min()), float(x_train.max()), str(x_train.dtype)
    (0.0, 1.0, 'float32')
    """
    _checks.choice("pixels", pixels, _PIXELS)
    if isinstance(cache_dir, str):
        cache_dir = os.path.expanduser(cache_dir)
    cache_dir = _checks.directory("cache_dir", cache_dir)
    debian_dir = _checks.string(
        "debian_dir", os.fspath(debian_dir) if isinstance(debian_dir, os.PathLike) else debian_dir
    )
    cache_dir = cache_dir if cache_dir is not None else _keras_cache_dir()
    _fill_cache(cache_dir, debian_dir)
    arrays = {
        name: _read_idx(os.path.join(cache_dir, name), sha, _SIZES[name]) for name, sha in _SHA256.items()
    }
    x_full, y_full = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    if len(x_full) != len(y_full) or len(x_test) != len(y_test) or len(x_full) <= _VALIDATION_SIZE:
        raise DatasetError(f"Images and labels in {cache_dir} do not match in length.")
    x_train, x_valid = x_full[:-_VALIDATION_SIZE], x_full[-_VALIDATION_SIZE:]
    y_train, y_valid = y_full[:-_VALIDATION_SIZE], y_full[-_VALIDATION_SIZE:]
    if pixels == "raw":
        xs = (x_train.copy(), x_valid.copy(), x_test.copy())
    else:
        xs = tuple(x.astype("float32") / 255.0 for x in (x_train, x_valid, x_test))
        if pixels == "standardized":
            mean = xs[0].mean(axis=0, keepdims=True)
            # A pixel that never varies would divide by zero; the real set has none, tiny ones might.
            std = np.maximum(xs[0].std(axis=0, keepdims=True), 1e-7)
            xs = tuple((x - mean) / std for x in xs)
    ys = tuple(y.astype("int64") for y in (y_train, y_valid, y_test))
    return (xs[0], ys[0]), (xs[1], ys[1]), (xs[2], ys[2])
