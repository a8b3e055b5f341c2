"""Argument validation shared by every layer, model builder and command (public, like Keras's argument_validation).

Every helper raises ``ValueError`` in the team format::

    Invalid value for argument `filters`. Expected a strictly positive integer. Received filters=0.
"""
import numbers

import numpy as np

__all__ = [
    "check_positive_int",
    "check_nonnegative_int",
    "check_range",
    "check_int_sequence",
    "check_level_strides",
    "check_number",
    "check_choice",
    "check_bool",
]


def _fail(name, expectation, value):
    raise ValueError(
        f"Invalid value for argument `{name}`. Expected {expectation}. Received {name}={value!r}."
    )


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value, allow_none=False, allow_float=False):
    """Return ``int(value)`` if it is an integer > 0, else raise ``ValueError``.

    Args:
        name: the argument's name, for the message.
        value: the value to check.
        allow_none: accept (and return) ``None``.
        allow_float: accept a float with an integer value (``3000.0``), for sizes computed in floating point.

    >>> check_positive_int("units", 3)
    3
    >>> check_positive_int("npts", 3000.0, allow_float=True)
    3000
    >>> check_positive_int("units", 0)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `units`. Expected a strictly positive integer. Received units=0.
    >>> check_positive_int("batch_size", 1.5, allow_none=True)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `batch_size`. Expected None or a strictly positive integer. Received batch_size=1.5.
    """
    if allow_none and value is None:
        return None
    whole = _is_int(value) or (allow_float and isinstance(value, numbers.Real) and not isinstance(value, bool)
                               and float(value).is_integer())
    if not whole or value <= 0:
        _fail(name, ("None or " if allow_none else "") + "a strictly positive integer", value)
    return int(value)


def check_nonnegative_int(name, value):
    """Return ``int(value)`` if it is an integer >= 0 (a count that may be zero), else raise ``ValueError``.

    >>> check_nonnegative_int("copies", 0)
    0
    >>> check_nonnegative_int("copies", 1.5)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `copies`. Expected an integer >= 0. Received copies=1.5.
    """
    if not _is_int(value) or value < 0:
        _fail(name, "an integer >= 0", value)
    return int(value)


def check_range(name, value, low=None, low_open=False, strict=False, allow_scalar=False, allow_none=False):
    """Return ``(low, high)`` as floats if ``value`` is a pair of finite numbers with ``low <= high``.

    Args:
        name: the argument's name, for the message.
        value: the value to check.
        low: optional bound of the pair's first number (``>= low``, or ``> low`` with ``low_open``).
        low_open: see ``low``.
        strict: require ``low < high``.
        allow_scalar: accept one number ``v`` as the pair ``(v, v)``.
        allow_none: accept (and return) ``None``.

    >>> check_range("snr_db", (-10, 10))
    (-10.0, 10.0)
    >>> check_range("amplitude", 2.0, low=0.0, low_open=True, allow_scalar=True)
    (2.0, 2.0)
    >>> check_range("band_hz", (5, 1), low=0.0, strict=True, allow_none=True)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `band_hz`. Expected None or a pair (low, high) of finite numbers with 0.0 <= low < high. Received band_hz=(5, 1).
    """
    if allow_none and value is None:
        return None
    bound = "" if low is None else f"{low} {'<' if low_open else '<='} "
    expectation = (("None or " if allow_none else "") + ("a number or " if allow_scalar else "")
                   + f"a pair (low, high) of finite numbers with {bound}low {'<' if strict else '<='} high")
    pair = (value, value) if allow_scalar and isinstance(value, numbers.Real) else value
    try:
        a, b = (check_number(name, v) for v in pair)
    except (TypeError, ValueError):
        a = b = None  # not a pair of finite numbers
    if a is None or a > b or (strict and a == b) or (low is not None and (a < low or (low_open and a == low))):
        _fail(name, expectation, value)
    return a, b


def check_int_sequence(name, value, length=None, allow_scalar=True, allow_empty=False):
    """Return a tuple of strictly positive ints.

    A scalar is accepted when ``allow_scalar`` (it becomes a 1-tuple, or a ``length``-tuple
    when ``length`` is given).

    >>> check_int_sequence("hidden_units", (8, 4))
    (8, 4)
    >>> check_int_sequence("kernel_size", 3, length=2)
    (3, 3)
    """
    if _is_int(value) and allow_scalar:
        if value <= 0:
            _fail(name, "a strictly positive integer or a sequence of them", value)
        return (int(value),) * (length or 1)
    try:
        items = tuple(value)
    except TypeError:
        _fail(name, "a sequence of strictly positive integers", value)
    if not items and not allow_empty:
        _fail(name, "a non-empty sequence of strictly positive integers", value)
    if not all(_is_int(v) and v > 0 for v in items):
        _fail(name, "a sequence of strictly positive integers", value)
    if length is not None and len(items) != length:
        _fail(name, f"a strictly positive integer or a sequence of {length} of them", value)
    return tuple(int(v) for v in items)


def check_level_strides(strides, n_levels, rank):
    """Per-level, per-axis strides of an encoder: a tuple of ``n_levels`` tuples of ``rank`` ints.

    ``strides`` is one int (every level, every axis), or one entry per level (an int or ``rank`` ints).

    >>> check_level_strides(2, n_levels=2, rank=1)
    ((2,), (2,))
    >>> check_level_strides([(2, 1), 4], n_levels=2, rank=2)
    ((2, 1), (4, 4))
    >>> check_level_strides((2, 2, 2), n_levels=2, rank=1)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `strides`. Expected a strictly positive integer or one entry per level of `filters` (2). Received strides=(2, 2, 2).
    """
    if _is_int(strides):
        level = check_int_sequence("strides", strides, length=rank)
        return (level,) * n_levels
    try:
        items = tuple(strides)
    except TypeError:
        items = None
    if items is None or len(items) != n_levels:
        _fail("strides", f"a strictly positive integer or one entry per level of `filters` ({n_levels})", strides)
    return tuple(check_int_sequence("strides", s, length=rank) for s in items)


def check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    """Return ``float(value)`` if it is a finite number within the bounds.

    >>> check_number("rate", 0.5, low=0.0, high=1.0, high_open=True)
    0.5
    >>> check_number("rate", 1.0, low=0.0, high=1.0, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `rate`. Expected a number in [0.0, 1.0). Received rate=1.0.
    """
    if low is not None and high is not None:
        expectation = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        expectation = f"a number {'>' if low_open else '>='} {low}"
    elif high is not None:
        expectation = f"a number {'<' if high_open else '<='} {high}"
    else:
        expectation = "a finite number"
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value != value:
        _fail(name, expectation, value)
    v = float(value)
    if v in (float("inf"), float("-inf")):
        _fail(name, expectation, value)
    if low is not None and (v < low or (low_open and v == low)):
        _fail(name, expectation, value)
    if high is not None and (v > high or (high_open and v == high)):
        _fail(name, expectation, value)
    return v


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``.

    >>> check_choice("likelihood", "gaussian", ("gaussian", "bernoulli"))
    'gaussian'
    """
    if value not in choices:
        _fail(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_bool(name, value):
    """Return ``value`` if it is ``True`` or ``False`` (NumPy booleans included).

    >>> check_bool("quiet", True)
    True
    >>> check_bool("quiet", "yes")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `quiet`. Expected True or False. Received quiet='yes'.
    """
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, "True or False", value)
    return bool(value)
