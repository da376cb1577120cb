"""The bad-input matrix (reliability issue): every public entry point refuses every kind of bad
input with a DataError (a ValueError) that names the problem, before any model is built.

Entry points are listed once in ENTRY_POINTS as ``name -> (callable taking the data, kind)``;
the inputs are listed once in BAD_INPUTS. Each pair is one test.
"""

import numpy as np
import pytest

from models import gmm_metrics
from models import conjugate, conjugate_mvn, em, gaussian, gmm, sequential
from models.validation import DataError

GOOD_1D = np.array([1.0, 2.5, 3.0, 4.5, 2.0])
GOOD_2D = np.array([[1.0, 2.0], [2.0, 1.5], [3.0, 4.0], [0.5, 1.0], [2.5, 3.5]])
#: A fixed 2-component mixture in 2-D, and labels for GOOD_2D's five rows.
W2, MU2, COV2 = np.array([0.4, 0.6]), np.array([[1.0, 1.5], [2.5, 3.0]]), np.array([np.eye(2), 2 * np.eye(2)])
Z5 = np.array([0, 0, 1, 0, 1])

#: name -> (function of the data, "1d", "2d", or "any" for functions taking (N,) or (N, D))
ENTRY_POINTS = {
    "gaussian.mle_mean": (gaussian.mle_mean, "any"),
    "gaussian.mle_var": (gaussian.mle_var, "1d"),
    "gaussian.unbiased_var": (gaussian.unbiased_var, "1d"),
    "gaussian.mle_cov": (gaussian.mle_cov, "2d"),
    "gaussian.unbiased_cov": (gaussian.unbiased_cov, "2d"),
    "gaussian.normal_logpdf": (lambda x: gaussian.normal_logpdf(x, 0.0, 1.0), "1d"),
    "gaussian.mvn_logpdf": (lambda x: gaussian.mvn_logpdf(x, np.zeros(2), np.eye(2)), "2d"),
    "gaussian.mahalanobis_sq_eig": (lambda x: gaussian.mahalanobis_sq_eig(x, np.zeros(2), np.eye(2)), "2d"),
    "gaussian.mahalanobis_sq_chol": (lambda x: gaussian.mahalanobis_sq_chol(x, np.zeros(2), np.eye(2)), "2d"),
    "conjugate.NormalMeanKnownVariance": (lambda x: conjugate.NormalMeanKnownVariance(0.0, 1.0, 1.0).posterior(x), "1d"),
    "conjugate.GammaPrecisionKnownMean": (lambda x: conjugate.GammaPrecisionKnownMean(0.0, 1.0, 1.0).posterior(x), "1d"),
    "conjugate.NormalGamma": (lambda x: conjugate.NormalGamma(0.0, 1.0, 1.0, 1.0).posterior(x), "1d"),
    "conjugate_mvn.NormalWishart": (lambda x: conjugate_mvn.NormalWishart(np.zeros(2), 1.0, np.eye(2), 3.0).posterior(x), "2d"),
    "sequential.online_mean": (sequential.online_mean, "1d"),
    "sequential.welford": (sequential.welford, "any"),
    "gmm.gmm_log_likelihood": (lambda x: gmm.gmm_log_likelihood(x, W2, MU2, COV2), "2d"),
    "gmm.responsibilities": (lambda x: gmm.responsibilities(x, W2, MU2, COV2), "2d"),
    "gmm.complete_data_mle": (lambda x: gmm.complete_data_mle(x, Z5[: len(x)] if hasattr(x, "__len__") else Z5, 2),
                              "2d"),
    "gmm.bic": (lambda x: gmm_metrics.bic(x, W2, MU2, COV2), "2d"),
    "em.fit_em": (lambda x: em.fit_em(x, 1, seed=0), "2d"),
}


def _bad_inputs(kind):
    good = GOOD_1D if kind == "1d" else GOOD_2D
    wrong_dim = {"1d": np.ones((3, 2, 2)), "2d": good.ravel(), "any": np.ones((2, 2, 2, 2))}[kind]
    with_nan = good.copy()
    with_nan.flat[1] = np.nan
    with_inf = good.copy()
    with_inf.flat[2] = np.inf
    with_neg_inf = good.copy()
    with_neg_inf.flat[2] = -np.inf
    huge = good.copy()
    huge.flat[0] = 1e200
    return {
        "nan": (with_nan, r"NaN"),
        "inf": (with_inf, r"infinite"),
        "-inf": (with_neg_inf, r"infinite"),
        "empty": (np.zeros((0,) if kind == "1d" else (0, 2)), r"empty"),
        "3-D": (np.ones((3, 2, 2)), r"must be .*[12]-D|must be 1-D or 2-D"),
        "wrong-dim": (wrong_dim, r"must be .*[12]-D|must be 1-D or 2-D"),
        "strings": (good.astype(str), r"non-numeric"),
        "object": (good.astype(object), r"non-numeric"),
        "huge": (huge, r"1e\+200.*Rescale"),
        "none": (None, r"None"),
    }


CASES = [(ep, case) for ep, (_, kind) in ENTRY_POINTS.items() for case in _bad_inputs(kind)]


@pytest.mark.parametrize("entry, case", CASES, ids=[f"{e}-{c}" for e, c in CASES])
def test_bad_input_is_refused_clearly(entry, case):
    func, kind = ENTRY_POINTS[entry]
    data, pattern = _bad_inputs(kind)[case]
    with pytest.raises(DataError, match=pattern):
        func(data)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_integer_input_works_like_float(entry):
    func, kind = ENTRY_POINTS[entry]
    good = GOOD_1D if kind == "1d" else GOOD_2D
    ints = np.round(good * 2).astype(int)
    as_float = func(ints.astype(float))
    from_int = func(ints)
    for a, b in zip(_numbers(from_int), _numbers(as_float)):
        np.testing.assert_array_equal(a, b)


def _numbers(result):
    """The numeric content of a result (array, posterior dataclass, or trajectory object)."""
    if isinstance(result, (np.ndarray, float, np.floating)):
        return [np.asarray(result)]
    values = vars(result) if hasattr(result, "__dict__") else {}
    return [np.asarray(v) for v in values.values() if isinstance(v, (np.ndarray, float, np.floating, int))]


@pytest.mark.parametrize("func, pattern", [
    (lambda: gaussian.unbiased_var([1.0]), r"at least 2"),
    (lambda: gaussian.mle_cov(GOOD_2D[:2]), r"at least 3"),
    (lambda: gaussian.mle_cov(np.column_stack([GOOD_1D, np.full(5, 7.0)])), r"constant column"),
    (lambda: gaussian.mvn_logpdf(GOOD_2D, np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]])), r"positive definite"),
    (lambda: conjugate_mvn.NormalWishart(np.zeros(2), 1.0, np.eye(2), 0.5), r"nu0"),
    (lambda: conjugate.NormalGamma(0.0, -1.0, 1.0, 1.0), r"kappa0"),
    (lambda: em.fit_em(GOOD_2D, 6, seed=0), r"5 row\(s\) but at least 6 are needed"),
    (lambda: em.fit_em(GOOD_2D, 0, seed=0), r"n_components"),
    (lambda: em.fit_em(GOOD_2D, 2.5, seed=0), r"n_components"),
    (lambda: em.fit_em(GOOD_2D, "2", seed=0), r"n_components"),
    (lambda: em.fit_em(np.column_stack([GOOD_1D, np.full(5, 7.0)]), 2, seed=0), r"constant column"),
    (lambda: gmm.gmm_log_likelihood(GOOD_2D, W2, MU2, np.array([np.eye(2), -np.eye(2)])), r"positive definite"),
    (lambda: gmm.complete_data_mle(GOOD_2D, np.array([0, 0, 1, 0, 3]), 2), r"z must lie in 0..1"),
])
def test_too_few_rows_constant_columns_and_bad_parameters(func, pattern):
    with pytest.raises(DataError, match=pattern):
        func()
