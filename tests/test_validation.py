"""The shared argument checks: the accepted values and the team's message shape."""
import numpy as np
import pytest

from geokeras.validation import check_positive_int, check_range


def test_check_positive_int_options():
    assert check_positive_int("n", np.int64(4)) == 4
    assert check_positive_int("n", None, allow_none=True) is None
    assert check_positive_int("n", 3000.0, allow_float=True) == 3000
    for bad in (3000.0, True, 0, -2, "3"):
        with pytest.raises(ValueError, match=r"^Invalid value for argument `n`\. Expected a strictly positive "
                                             r"integer\. Received n="):
            check_positive_int("n", bad)
    for bad in (2.5, 0.0, True):
        with pytest.raises(ValueError, match=r"Expected a strictly positive integer\. Received n="):
            check_positive_int("n", bad, allow_float=True)
    with pytest.raises(ValueError, match=r"Expected None or a strictly positive integer\. Received n=0\.$"):
        check_positive_int("n", 0, allow_none=True)


def test_check_range_accepts():
    assert check_range("r", (-3, 4)) == (-3.0, 4.0)
    assert check_range("r", np.array([1.0, 1.0])) == (1.0, 1.0)  # low == high unless strict
    assert check_range("r", 2, allow_scalar=True) == (2.0, 2.0)
    assert check_range("r", None, allow_none=True) is None
    assert check_range("r", (0.0, 1.0), low=0.0, strict=True) == (0.0, 1.0)


@pytest.mark.parametrize("value, kwargs, expected", [
    ((2, 1), {}, "a pair (low, high) of finite numbers with low <= high"),
    ((1, 1), {"strict": True}, "a pair (low, high) of finite numbers with low < high"),
    ((0.0, 1.0), {"low": 0.0, "low_open": True}, "a pair (low, high) of finite numbers with 0.0 < low <= high"),
    ((-1.0, 1.0), {"low": 0.0}, "a pair (low, high) of finite numbers with 0.0 <= low <= high"),
    ((1.0, np.inf), {}, "a pair (low, high) of finite numbers with low <= high"),
    ((1, 2, 3), {}, "a pair (low, high) of finite numbers with low <= high"),
    (5, {}, "a pair (low, high) of finite numbers with low <= high"),
    ("ab", {"allow_scalar": True}, "a number or a pair (low, high) of finite numbers with low <= high"),
    (None, {}, "a pair (low, high) of finite numbers with low <= high"),
    ((3, 1), {"allow_none": True}, "None or a pair (low, high) of finite numbers with low <= high"),
])
def test_check_range_refuses(value, kwargs, expected):
    with pytest.raises(ValueError) as err:
        check_range("r", value, **kwargs)
    assert str(err.value) == f"Invalid value for argument `r`. Expected {expected}. Received r={value!r}."
