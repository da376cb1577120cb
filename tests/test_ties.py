"""models.ties: tie counts against a direct count, heavy ties on heaped data and not on smooth
or finely rounded data, dequantization's noise law, and — the point of it all — a mixture whose
fits collapse on tied data and agree again once the column is dequantized."""

import warnings
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from models import gmm
from models.data import load_dataset
from models.em import fit_em
from models.gmm_builders import gmm_marginal_model
from models.gmm_fitting import fit_gmm_map
from models.ties import dequantize, heavy_ties, parse_widths, tie_report, ties_message
from models.validation import DataError

#: Two overlapping 2-D clusters shaped like bdims' women and men (height cm, weight kg).
W = np.array([0.5, 0.5])
MU = np.array([[164.9, 60.6], [177.7, 78.1]])
COV = np.array([[[42.0, 30.0], [30.0, 88.0]], [[52.0, 38.0], [38.0, 110.0]]])
STEP = 10.0


def heaped_mixture(seed: int, share: float = 0.2, n: int = 272) -> np.ndarray:
    """(n, 2) draws of the mixture with ``share`` of the rows' first column rounded to STEP: a fifth of
    the heights on three or four exact values (160, 170, 180, ...), the rest continuous."""
    x, _ = gmm.sample_gmm(np.random.default_rng(seed), n, W, MU, COV)
    rows = np.random.default_rng(seed + 99).random(n) < share
    x[rows, 0] = np.round(x[rows, 0] / STEP) * STEP
    return x


def test_counts_match_a_direct_count(rng):
    x = np.column_stack([np.round(rng.normal(0, 3, 400)), rng.normal(size=400)])
    report = tie_report(x, ["rounded", "smooth"])
    counts = Counter(x[:, 0].tolist())
    assert report[0].n_tied == sum(c for c in counts.values() if c > 1)
    assert report[0].n_values == len(counts) and report[0].n_rows == 400
    assert report[1].n_tied == 0 and not report[1].heavy and report[1].heaps == ()
    # heaps: values holding >= 4x the average rows per value (and >= 3 rows)
    threshold = max(3, 4 * 400 / len(counts))
    assert sorted(v for v, _ in report[0].heaps) == sorted(v for v, c in counts.items() if c >= threshold)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_heaped_column_is_heavy_and_named_with_its_step(seed):
    report = tie_report(heaped_mixture(seed), ["height", "weight"])
    assert [t.column for t in heavy_ties(report)] == ["height"]
    assert report[0].step == pytest.approx(STEP)
    message = ties_message(report)
    assert "heavy ties — height:" in message and "collapse onto a line of tied points" in message
    assert "--dequantize 10,0" in message


def test_a_handful_of_values_is_heavy_finely_rounded_data_is_not(rng):
    discrete = np.column_stack([rng.integers(0, 4, 300).astype(float), rng.normal(size=300)])
    assert tie_report(discrete)[0].heavy and tie_report(discrete)[0].top_share == 1.0
    fine = np.round(rng.normal(70, 13, (300, 1)))       # whole minutes, sd 13: ~60 values, none a heap
    assert not tie_report(fine)[0].heavy


def test_shipped_data_faithful_is_not_heavy_bdims_heights_are():
    faithful = tie_report(load_dataset("faithful").values, ["eruptions_min", "waiting_min"])
    assert not heavy_ties(faithful) and faithful[1].n_tied == 264     # all whole minutes, no heap
    bdims = load_dataset("bdims").select(["height_cm", "weight_kg"])
    heavy = heavy_ties(tie_report(bdims.values, bdims.columns))
    assert [t.column for t in heavy] == ["height_cm"] and (177.8, 27) in heavy[0].heaps   # 70 inches


def test_dequantize_adds_seeded_uniform_noise_of_the_width(rng):
    x = np.round(rng.normal(0, 5, (20_000, 2)))
    y = dequantize(x, [1.0, 0.0], seed=11)
    np.testing.assert_array_equal(y, dequantize(x, [1.0, 0.0], seed=11))          # reproducible
    np.testing.assert_array_equal(y[:, 1], x[:, 1])                                # width 0: untouched
    noise = y[:, 0] - x[:, 0]
    assert np.all(np.abs(noise) <= 0.5)
    # the noise is U(-1/2, 1/2): KS test at level 1e-3 against its exact law
    assert stats.kstest(noise, stats.uniform(-0.5, 1.0).cdf).pvalue > 1e-3
    assert not tie_report(y)[0].n_tied


@pytest.mark.parametrize("text, n, expected", [("1", 2, [1.0, 1.0]), ("0.1,1", 2, [0.1, 1.0]), ("2.54,0", 2, [2.54, 0])])
def test_parse_widths(text, n, expected):
    assert parse_widths(text, n).tolist() == expected


@pytest.mark.parametrize("text, pattern", [("a", "as numbers"), ("1,2,3", "3 widths for 2 columns"),
                                           ("-1", ">= 0"), ("0,0", "at least one > 0"), ("nan", "finite")])
def test_parse_widths_refuses(text, pattern):
    with pytest.raises(DataError, match=pattern):
        parse_widths(text, 2)


def _em_and_map(x, seed):
    """EM (k-means++, tol 1e-12, no ridge) and the flat-prior MAP (k-means++), as the analyses run them;
    EM returns None when it collapses (a covariance that is not positive definite)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            em = fit_em(x, 2, seed=seed, tol=1e-12, max_iter=50_000, reg_covar=0.0)
    except DataError as exc:
        assert "not positive definite" in str(exc)
        em = None
    fit = fit_gmm_map(gmm_marginal_model(x, 2, priors="flat"), start="kmeans++", seed=seed, gtol=1e-9)
    return em, fit


def _smallest_eigenvalue(cov, x):
    scale = x.std(axis=0)
    return float(np.min(np.linalg.eigvalsh(cov / np.outer(scale, scale))))


def test_tied_data_collapse_the_fits_and_dequantized_data_agree_again():
    """Seed 2 of heaped_mixture: EM collapses (a singular covariance) and MAP stops on a line of
    tied heights (smallest standardized eigenvalue ~1e-16); dequantized with width 10 (four noise
    seeds), EM and MAP reach the same regular maximum (log-likelihood to 1e-6, as the analyses
    check)."""
    x = heaped_mixture(2)
    assert heavy_ties(tie_report(x))
    em, fit = _em_and_map(x, 2)
    assert em is None or abs(fit.log_likelihood - em.log_likelihood) > 1e-3 * abs(em.log_likelihood)
    assert _smallest_eigenvalue(fit.covariances, x) < 1e-10, "MAP collapsed onto the tied points"
    for noise_seed in range(4):
        y = dequantize(x, [STEP, 0.0], seed=noise_seed)
        assert not heavy_ties(tie_report(y))
        em, fit = _em_and_map(y, 2)
        assert em is not None
        assert fit.log_likelihood == pytest.approx(em.log_likelihood, rel=1e-6)
        assert min(_smallest_eigenvalue(c, y) for c in (em.covariances, fit.covariances)) > 1e-2
