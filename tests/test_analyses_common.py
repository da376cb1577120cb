"""analyses.common: the helpers every analysis shares — labels and units, data loading, grids,
histogram bins, the σ density, and the Monte Carlo checks against exact values."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
from scipy import integrate

from analyses.common import (
    axis_label,
    check_ks,
    check_map,
    check_moments,
    explains_ties,
    grid_for,
    histogram_bins,
    load_faithful,
    load_gaussian_data,
    prepare_data,
    sigma_density,
    unit_of,
)
from analyses.runner import Context, Settings
from models.conjugate import NormalGamma
from models.ties import dequantize
from models.validation import DataError


def _ctx(data=None, **data_options):
    return SimpleNamespace(settings=Settings(data=data, **data_options), log=lambda message: None, extra={})


@pytest.mark.parametrize("column, keep_unnamed, label", [
    ("eruptions_min", False, "eruptions (min)"),
    ("body_fat_pct", False, "body fat (pct)"),
    ("male", False, "male"),
    ("col0", False, "column 0 (data units)"),
    ("col0", True, "col0"),
    ("height_cm", True, "height (cm)"),
])
def test_axis_label(column, keep_unnamed, label):
    assert axis_label(column, keep_unnamed=keep_unnamed) == label


def test_unit_of():
    assert unit_of("height (cm)") == "cm" and unit_of("column 0 (data units)") == "data units"
    assert unit_of("col0") == "units"


def test_load_gaussian_data_shipped_and_user_file(tmp_path):
    s, t = load_gaussian_data(_ctx())
    assert (s.name, s.label, s.values.shape) == ("heights", "height (cm)", (1050,))
    assert (t.name, t.columns, t.labels) == ("bdims", ("height_cm", "weight_kg"), ("height (cm)", "weight (kg)"))
    path = tmp_path / "one.txt"
    path.write_text("1.0\n2.5\n4.0\n")
    s, t = load_gaussian_data(_ctx(str(path)))
    assert s.label == "col0" and t is None  # header-less columns keep their name in the Gaussian analyses


def test_load_faithful_recognises_the_books_file(tmp_path):
    shipped = load_faithful(_ctx())
    assert shipped.is_book_faithful and shipped.labels == ("eruptions (min)", "waiting (min)")
    path = tmp_path / "old_faithful.txt"
    np.savetxt(path, shipped.values)
    again = load_faithful(_ctx(str(path)))
    assert again.is_book_faithful and again.columns == shipped.columns
    np.savetxt(path, shipped.values[:-1])
    assert not load_faithful(_ctx(str(path))).is_book_faithful


def test_grid_for_covers_the_data_with_a_margin():
    x = np.array([[0.0, 10.0], [2.0, 30.0]])
    gx, gy, pts = grid_for(x, n=5, pad=0.1)
    assert gx.shape == gy.shape == (5, 5) and pts.shape == (25, 2)
    np.testing.assert_allclose([gx.min(), gx.max(), gy.min(), gy.max()], [-0.2, 2.2, 8.0, 32.0])
    np.testing.assert_array_equal(pts[:, 0], gx.ravel())


def test_histogram_bins_centre_rounded_data_on_its_grid():
    rng = np.random.default_rng(0)
    rounded = np.round(rng.normal(170.0, 7.0, 500))
    edges = histogram_bins(rounded)
    np.testing.assert_allclose(edges % 1.0, 0.5)  # every whole number sits in the middle of a bin
    assert edges[0] <= rounded.min() and edges[-1] >= rounded.max()
    assert histogram_bins(rng.normal(size=500)) == 40  # continuous data: a plain count


def test_sigma_density_is_the_density_of_tau_to_the_minus_half():
    post = NormalGamma(0.0, 1.0, 6.0, 5.0).as_posterior()
    total = integrate.quad(lambda s: sigma_density(post, np.array([s]))[0], 1e-6, 50.0)[0]
    mean = integrate.quad(lambda s: s * sigma_density(post, np.array([s]))[0], 1e-6, 50.0)[0]
    assert total == pytest.approx(1.0, abs=1e-9) and mean == pytest.approx(post.mean_sigma, rel=1e-9)


def test_check_moments_passes_exact_values_and_fails_wrong_ones():
    draws = xr.DataArray(np.random.default_rng(1).normal(2.0, 3.0, size=(2, 2000)), dims=("chain", "draw"))
    ctx = Context("t", Settings())
    check_moments(ctx, "x", draws, 2.0, 3.0, reference="truth", dataset="d")
    check_moments(ctx, "y", draws, 2.5, 3.0, reference="truth", dataset="d")  # 0.5 is ~7 standard errors
    assert [c.passed for c in ctx.checks] == [True, True, False, True]
    assert ctx.checks[0].method == "NUTS (4000 draws)" and ctx.checks[0].quantity == "x: posterior mean"


def test_check_map_returns_the_relative_error():
    ctx = Context("t", Settings())
    assert check_map(ctx, "q", [1.0, 2.0 + 2e-7], [1.0, 2.0], dataset="d", reference="r") == pytest.approx(1e-7)
    assert ctx.checks[0].passed and ctx.checks[0].tolerance == pytest.approx(2e-6)


def test_check_ks_passes_draws_from_the_law_and_fails_a_shifted_law():
    from scipy import stats

    draws = np.random.default_rng(2).standard_t(5, size=4000)
    ctx = Context("t", Settings())
    # a shift of 0.2 moves the CDF by up to 0.2 f(0) = 0.076, twice the critical value
    check_ks(ctx, "t draws", draws, stats.t(5), alpha=1e-4, method="m", reference="t(5)", dataset="d")
    check_ks(ctx, "shifted", draws, stats.t(5, loc=0.2), alpha=1e-4, method="m", reference="t(5) + 0.2", dataset="d")
    assert [c.passed for c in ctx.checks] == [True, False]
    crit = stats.kstwo(4000).ppf(1 - 1e-4)  # 0.0351, about √(−ln(α/2)/(2n))
    assert ctx.checks[0].reference_value == pytest.approx(crit) and crit == pytest.approx(0.0351, abs=2e-4)
    assert ctx.checks[0].probability and ctx.checks[0].basis == "KS critical value, level 0.0001"


# --------------------------------------------------------------------------- the user's data: ties and dequantization


def _heaped_file(tmp_path, rng):
    """A CSV of 300 rows whose first column has a fifth of its values rounded to multiples of 10."""
    x = rng.normal([170.0, 70.0], [9.0, 12.0], size=(300, 2))
    rows = rng.random(300) < 0.2
    x[rows, 0] = np.round(x[rows, 0] / 10) * 10
    path = tmp_path / "heaped.csv"
    path.write_text("height,weight\n" + "".join(f"{a!r},{b!r}\n" for a, b in x.tolist()))
    return path, x


def test_gmm_data_warn_about_heavy_ties_before_fitting(tmp_path, rng):
    path, x = _heaped_file(tmp_path, rng)
    logged = []
    ctx = SimpleNamespace(settings=Settings(data=str(path)), log=logged.append, extra={})
    t = load_faithful(ctx)
    np.testing.assert_array_equal(t.values, x)
    warning = next(m for m in logged if "WARNING" in m)
    assert "heavy ties — height:" in warning and "--dequantize 10,0" in warning
    assert ctx.extra["ties"]["heaped"]["heavy"] == ["height"]
    tied = ctx.extra["ties"]["heaped"]["before"][0]
    assert tied["rows_on_repeated_values"] == sum(c for c in np.unique(x[:, 0], return_counts=True)[1] if c > 1)


def test_dequantize_is_seeded_recorded_and_removes_the_ties(tmp_path, rng, capsys):
    path, x = _heaped_file(tmp_path, rng)
    settings = Settings(data=str(path), dequantize="10,0", seed=7)
    import analyses.old_faithful_gmm as module

    prepare_data(settings, {"old_faithful_gmm": module})
    recorded = settings.as_dict()
    assert recorded["dequantize"] == "10,0" and recorded["dequantize_widths"] == {"height": 10.0, "weight": 0.0}
    assert recorded["dequantize_seed"] == 7
    logged = []
    ctx = SimpleNamespace(settings=settings, log=logged.append, extra={})
    t = load_faithful(ctx)
    noise = t.values - x
    assert np.all(np.abs(noise[:, 0]) <= 5.0) and np.all(noise[:, 1] == 0.0)
    np.testing.assert_array_equal(t.values[:, 0], dequantize(x, [10.0, 0.0], seed=7)[:, 0])  # the recorded seed
    assert not any("WARNING" in m for m in logged) and any(m.startswith("dequantized heaped:") for m in logged)
    assert ctx.extra["dequantize"] == {"widths": {"height": 10.0, "weight": 0.0}, "seed": 7, "dataset": "heaped"}
    assert ctx.extra["ties"]["heaped"]["heavy"] == []


def test_a_collapse_on_heavily_tied_data_names_the_ties_and_the_remedy(tmp_path, rng):
    path, _ = _heaped_file(tmp_path, rng)

    def run(ctx):
        load_faithful(ctx)
        raise DataError("covariance of component 1 is not positive definite; increase reg_covar.")

    ctx = SimpleNamespace(settings=Settings(data=str(path)), log=lambda message: None, extra={})
    with pytest.raises(DataError, match=r"increase reg_covar\. The likely cause: heavy ties \(heaped: height\).*"
                                        r"rerun with --dequantize"):
        explains_ties(run)(ctx)
    # without heavy ties the error passes through unchanged
    smooth = SimpleNamespace(settings=Settings(), log=lambda message: None, extra={})
    with pytest.raises(DataError, match=r"^covariance of component 1 is not positive definite; increase reg_covar\.$"):
        explains_ties(run)(smooth)
