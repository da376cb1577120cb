"""Tests for models.gmm_dp_builders: the PyMC stick-breaking mixture against the numpy reference.

* log-density: ``model.compile_logp()`` at seeded random points of the unconstrained (value)
  space equals :func:`models.gmm_dp.dp_marginal_log_density` at the same point mapped to the
  constrained space (depths r = -ln(1 - v), α integrated out; that function is tied to the joint
  density over (v, α) in tests/test_gmm_dp.py), to 1e-9 relative — without PyMC's transforms'
  Jacobians (``jacobian=False``) and with them, then added by hand (log: ln r, ln prec_c);
* the deterministic ``w`` equals :func:`models.gmm_dp.stick_breaking_weights`;
* bad input is refused before any ``pm.Model`` exists, with the message checked.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.gmm_dp import dp_marginal_log_density, stick_breaking_weights
from models.gmm_dp_builders import gmm_dp_model
from models.validation import DataError


def value_point(rng, model) -> dict:
    """A random point of the model's value (unconstrained) space; sticks at v ~ Uniform(0.02, 0.98)."""
    point = {v.name: rng.normal(0.0, 1.0, size=model.initial_point()[v.name].shape) for v in model.value_vars}
    v = rng.uniform(0.02, 0.98, size=point["v_raw_log__"].shape)
    point["v_raw_log__"] = np.log(-np.log1p(-v))                              # r = -ln(1 - v)
    return point


def constrained(point: dict, d: int) -> tuple[dict, float]:
    """The constrained variables at a value-space point and the log-Jacobian of PyMC's log transforms."""
    out = {"v_raw": np.exp(point["v_raw_log__"]), "mu_first": point["mu_first"],
           "prec_c": np.exp(point["prec_c_log__"])}
    if d > 1:
        out["mu_rest"], out["prec_z"] = point["mu_rest"], point["prec_z"]
    return out, float(point["v_raw_log__"].sum() + point["prec_c_log__"].sum())


@pytest.mark.parametrize(("d", "t"), [(1, 4), (2, 10), (3, 5)])
def test_log_density_equals_the_numpy_stick_breaking_reference(d, t):
    rng = np.random.default_rng(10 + d)
    x = rng.normal(size=(40, d)) * np.arange(1, d + 1) + 3.0                 # not standardized: the model does it
    model = gmm_dp_model(x, truncation=t, alpha_shape=2.0, alpha_rate=0.5)
    spec, prior = model.gmm_spec, model.dp_prior
    x_s = spec.standardization.apply(x)
    logp = model.compile_logp(jacobian=False)
    logp_jac = model.compile_logp(jacobian=True)
    w_of_values = model.replace_rvs_by_values([model["w"]])[0]
    weights = model.compile_fn(w_of_values, inputs=model.value_vars, on_unused_input="ignore")
    for _ in range(4):
        point = value_point(rng, model)
        cons, log_jac = constrained(point, d)
        reference = dp_marginal_log_density(x_s, cons, spec, prior)
        assert logp(point) == pytest.approx(reference, rel=1e-9)
        assert logp_jac(point) == pytest.approx(reference + log_jac, rel=1e-9)
        np.testing.assert_allclose(weights(point), stick_breaking_weights(-np.expm1(-cons["v_raw"])), rtol=1e-12)


def test_model_has_the_documented_variables_and_coords():
    x = np.random.default_rng(0).normal(size=(30, 2))
    model = gmm_dp_model(x, truncation=6, columns=["a", "b"])
    assert sorted(v.name for v in model.free_RVs) == ["mu_first", "mu_rest", "prec_c", "prec_z", "v_raw"]
    assert len(model.coords["component"]) == 6 and len(model.coords["stick"]) == 5
    assert model.coords["feature"] == ("a", "b")
    assert model.dp_prior.truncation == 6 and model.gmm_spec.n_components == 6


@pytest.mark.parametrize(("data", "kwargs", "message"), [
    ("ok", {"truncation": 1}, "truncation T must be a whole number >= 2"),
    ("ok", {"truncation": 31}, r"truncation T = 31 exceeds the number of points N = 30; .* pass T <= 30"),
    ("ok", {"alpha_shape": 0.0}, "alpha_shape must be > 0"),
    ("ok", {"alpha_rate": -2.0}, "alpha_rate must be > 0"),
    ("nan", {}, "x contains 1 NaN and 0 infinite value"),
    ("1d", {}, "x must be 2-D"),
])
def test_bad_input_is_refused_before_a_model_is_built(monkeypatch, data, kwargs, message):
    import pymc as pm

    x = np.random.default_rng(1).normal(size=(30, 2))
    if data == "nan":
        x[4, 1] = np.nan
    elif data == "1d":
        x = x[:, 0]

    def no_model(*args, **kw):
        raise AssertionError("a pm.Model was built before the input was checked")

    monkeypatch.setattr(pm, "Model", no_model)
    with pytest.raises(DataError, match=message):
        gmm_dp_model(x, **kwargs)
