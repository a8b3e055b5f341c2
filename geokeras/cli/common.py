"""What every ``geokeras`` subcommand shares: the user-facing error, one-line messages, argument types
checked with `geokeras.validation`, and quiet TensorFlow.

Example:
    >>> import argparse
    >>> overlap = argument_type(check_number, "overlap", low=0.0, high=1.0, high_open=True)
    >>> overlap("0.25")
    0.25
    >>> overlap("1.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: Invalid value for argument `overlap`. Expected a number in [0.0, 1.0). Received overlap=1.5.
"""
import argparse
import os
import tempfile

from geokeras.validation import check_number, check_positive_int
from geokeras.errors import GeokerasError, one_line  # noqa: F401 - one_line: re-exported for the subcommands
from geokeras.utils import quiet_tensorflow  # noqa: F401 - re-exported for the subcommands

__all__ = ["CommandError", "one_line", "argument_type", "positive_int", "finite_float", "quiet_tensorflow",
           "check_output_folder"]


class CommandError(GeokerasError):
    """A user-facing error of a command: printed as one line, exit status 1."""


def argument_type(check, name, integer=False, **bounds):
    """An ``argparse`` ``type=`` that converts a string and checks it with a `geokeras.validation` function.

    The value is converted to ``int`` for `check_positive_int` or with ``integer=True`` (``"2.5"`` is then a
    usage error, not 2), to ``float`` otherwise; a failing check becomes an ``argparse.ArgumentTypeError``
    with the check's message (a usage error: exit status 2).
    """
    convert = int if check is check_positive_int or integer else float

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"Invalid value for argument `{name}`. Expected {'an integer' if convert is int else 'a number'}. "
                f"Received {name}={text!r}.") from None
        try:
            return check(name, value, **bounds)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def positive_int(name):
    """``argument_type`` for a strictly positive integer."""
    return argument_type(check_positive_int, name)


def finite_float(name):
    """``argument_type`` for a finite number."""
    return argument_type(check_number, name)


def check_output_folder(folder):
    """Create ``folder`` if needed and check that a file can be written in it, before any work.

    Raises:
        CommandError: the folder cannot be created or written to (the message says why).
    """
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CommandError(f"output {folder!r} exists and is not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CommandError(f"output folder {folder!r} is not writable: {exc.strerror or exc}") from None
