"""keras_tricks.datasets: the book's data, loaded offline where the machine has it."""

from keras_tricks.datasets.fashion_mnist import DatasetError, load_fashion_mnist

__all__ = ["DatasetError", "load_fashion_mnist"]
