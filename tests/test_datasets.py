import gzip
import hashlib
import os
import shutil

import keras
import numpy as np
import pytest

from keras_tricks.datasets import fashion_mnist as datasets

N_TRAIN_FULL, N_TEST = 5012, 24  # tiny synthetic copies; the real set is 60,000 + 10,000


def _idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_set(tmp_path, monkeypatch):
    """A synthetic Fashion-MNIST in a fake Debian folder, with its hashes patched in."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(N_TRAIN_FULL, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, size=(N_TRAIN_FULL,)),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, size=(N_TEST,)),
    }
    debian = tmp_path / "debian"
    debian.mkdir()
    hashes = {}
    for name, array in arrays.items():
        content = _idx_bytes(array)
        hashes[name] = hashlib.sha256(content).hexdigest()
        with gzip.open(debian / name, "wb") as f:
            f.write(content)
    monkeypatch.setattr(datasets, "_SHA256", hashes)
    return debian, arrays


def test_split_and_scaling_follow_the_book(fake_set, tmp_path):
    debian, arrays = fake_set
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = datasets.load_fashion_mnist(
        cache_dir=tmp_path / "cache", debian_dir=debian
    )
    assert x_train.shape == (N_TRAIN_FULL - 5000, 28, 28)
    assert x_valid.shape == (5000, 28, 28) and x_test.shape == (N_TEST, 28, 28)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    full = arrays["train-images-idx3-ubyte.gz"]
    np.testing.assert_allclose(x_valid, full[-5000:] / 255.0, rtol=1e-6)  # validation = last 5,000
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"][:-5000])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])


def test_copies_from_debian_into_the_cache(fake_set, tmp_path):
    debian, _ = fake_set
    cache = tmp_path / "cache"
    datasets.load_fashion_mnist(cache_dir=cache, debian_dir=debian)
    assert sorted(os.listdir(cache)) == sorted(datasets._SHA256)
    shutil.rmtree(debian)  # the cache alone is enough from now on
    (x_train, _), _, _ = datasets.load_fashion_mnist(cache_dir=cache, debian_dir=debian)
    assert len(x_train) == N_TRAIN_FULL - 5000


def test_raw_keeps_uint8(fake_set, tmp_path):
    debian, arrays = fake_set
    (x_train, _), _, _ = datasets.load_fashion_mnist("raw", cache_dir=tmp_path / "c", debian_dir=debian)
    assert x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"][:-5000])


def test_standardized_uses_training_statistics(fake_set, tmp_path):
    debian, _ = fake_set
    (x_train, _), (x_valid, _), _ = datasets.load_fashion_mnist(
        "standardized", cache_dir=tmp_path / "c", debian_dir=debian
    )
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-3)
    assert abs(float(x_valid.mean())) < 0.1  # validation uses the training mean, not its own


@pytest.fixture
def filled_cache(fake_set, tmp_path):
    """`(cache, debian)`: the fake set's cache after a first load, for the tests that then damage it."""
    debian, _ = fake_set
    cache = tmp_path / "cache"
    datasets.load_fashion_mnist(cache_dir=cache, debian_dir=debian)
    return cache, debian


def test_truncated_file_gets_a_clear_error(filled_cache):
    cache, debian = filled_cache
    path = cache / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(datasets.DatasetError, match="truncated or corrupt.*Delete .*train-images"):
        datasets.load_fashion_mnist(cache_dir=cache, debian_dir=debian)


def test_wrong_content_gets_a_clear_error(filled_cache):
    cache, debian = filled_cache
    with gzip.open(cache / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(np.zeros((N_TEST,))))
    with pytest.raises(datasets.DatasetError, match="wrong content: SHA-256"):
        datasets.load_fashion_mnist(cache_dir=cache, debian_dir=debian)


def test_a_gzip_bomb_in_the_cache_is_refused_without_decompressing_it(filled_cache):
    import tracemalloc

    cache, debian = filled_cache
    with gzip.open(cache / "train-labels-idx1-ubyte.gz", "wb", compresslevel=9) as f:
        for _ in range(256):  # 256 MiB of zeros, about 256 KiB on disk
            f.write(bytes(1 << 20))
    assert os.path.getsize(cache / "train-labels-idx1-ubyte.gz") < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(datasets.DatasetError, match="decompresses to more than 60,008 bytes"):
            datasets.load_fashion_mnist(cache_dir=cache, debian_dir=debian)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak / 2**20:.1f} MiB"  # the images of the fake set, not the bomb


def test_offline_without_debian_package_says_what_to_do(tmp_path, monkeypatch):
    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(datasets.DatasetError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist(cache_dir=tmp_path / "cache", debian_dir=tmp_path / "no-such-dir")


def test_unknown_pixels_option_names_the_value():
    with pytest.raises(ValueError, match="pixels='scaled'"):
        datasets.load_fashion_mnist("scaled")


@pytest.mark.slow
def test_real_fashion_mnist_matches_the_book():
    """Reads the real files (Debian package or Keras cache); about a second."""
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = datasets.load_fashion_mnist()
    assert (len(x_train), len(x_valid), len(x_test)) == (55000, 5000, 10000)
    assert set(np.unique(y_train)) == set(range(10))
    # The book's first training label is 9 (ankle boot) and its first test label is 9 too.
    assert y_train[0] == 9 and y_test[0] == 9
    assert np.bincount(y_test).tolist() == [1000] * 10
