"""models.validation: every kind of bad input is refused with a message naming problem and fix."""

import numpy as np
import pytest

from models.validation import (
    MAX_ABS_VALUE,
    DataError,
    validate_n_components,
    validate_samples_1d,
    validate_samples_2d,
)


def test_integer_input_becomes_float64_copy():
    x = np.arange(12).reshape(6, 2)
    out = validate_samples_2d(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, x.astype(float))
    out[0, 0] = 99.0
    assert x[0, 0] == 0  # the caller's array is never modified


def test_column_vector_accepted_as_univariate():
    out = validate_samples_1d(np.array([[1.0], [2.0], [4.0]]))
    assert out.shape == (3,)
    np.testing.assert_array_equal(out, [1.0, 2.0, 4.0])


def test_lists_accepted():
    assert validate_samples_2d([[1, 2], [3, 5]]).shape == (2, 2)


@pytest.mark.parametrize(
    "bad, pattern",
    [
        ([1.0, np.nan, 3.0], r"1 NaN and 0 infinite.*index \(1,\)"),
        ([1.0, np.inf, 3.0], r"0 NaN and 1 infinite"),
        ([1.0, -np.inf, 3.0], r"0 NaN and 1 infinite"),
        ([], r"empty"),
        (np.ones((3, 2, 2)), r"must be 1-D"),
        (np.ones((3, 2)), r"must be 1-D.*select one column"),
        (np.array(["a", "b"]), r"non-numeric"),
        (np.array([1, "x"], dtype=object), r"non-numeric"),
        ([1.0, 1e200], r"1e\+200.*Rescale"),
        ([1 + 2j, 3j], r"complex"),
        ("1,2,3", r"is a string"),
        (None, r"is None"),
        ([5.0, 5.0, 5.0], r"constant"),
    ],
)
def test_1d_rejections(bad, pattern):
    with pytest.raises(DataError, match=pattern):
        validate_samples_1d(bad)


@pytest.mark.parametrize(
    "bad, kwargs, pattern",
    [
        (np.arange(5.0), {}, r"must be 2-D.*reshape"),
        (np.ones((2, 2, 2)), {}, r"must be 2-D.*3-D"),
        ([[1.0, 2.0], [3.0]], {}, r"ragged|non-numeric"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), {}, r"NaN.*index \(0, 1\)"),
        (np.array([[1.0, 2.0], [3.0, 4.0]]), {"min_rows": 3, "why": "a covariance needs N >= D + 1"},
         r"2 row\(s\) but at least 3.*covariance needs N >= D \+ 1"),
        (np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]]), {}, r"constant column\(s\) \[1\]"),
        (np.ones((3, 2)), {"n_features": 3}, r"must have 3 column"),
        (np.zeros((0, 2)), {}, r"empty"),
    ],
)
def test_2d_rejections(bad, kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        validate_samples_2d(bad, **kwargs)


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError)


def test_constant_allowed_when_asked():
    assert validate_samples_2d(np.ones((3, 2)), allow_constant=True).shape == (3, 2)


def test_largest_accepted_value_squares_finitely():
    x = np.array([MAX_ABS_VALUE, -MAX_ABS_VALUE, 0.0])
    assert np.isfinite(np.var(validate_samples_1d(x)))


@pytest.mark.parametrize("k, expected", [(1, 1), (3, 3), (np.int64(2), 2), (2.0, 2)])
def test_n_components_accepted(k, expected):
    assert validate_n_components(k) == expected


@pytest.mark.parametrize("k, pattern", [(0, ">= 1"), (-2, ">= 1"), (2.5, "whole number"), (True, "whole number"),
                                        ("2", "whole number"), (None, "whole number")])
def test_n_components_rejected(k, pattern):
    with pytest.raises(DataError, match=pattern):
        validate_n_components(k)
