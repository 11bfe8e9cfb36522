"""Messages to the user, the way Keras prints its own.

Keras's callbacks print through its logging: to standard output while interactive logging is on (the
default), to the `absl` logger after `keras.utils.disable_interactive_logging()`. keras-tricks does the
same, so one switch silences or redirects both.
"""

import sys

import keras
from absl import logging as absl_logging


def print_msg(message):
    """Prints `message` as Keras's callbacks print theirs (see the module docstring)."""
    if keras.utils.is_interactive_logging_enabled():
        sys.stdout.write(f"{message}\n")
        sys.stdout.flush()
    else:
        absl_logging.info(message)
