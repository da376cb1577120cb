"""Tests for models.gmm_spec: the numpy parametrization shared by the GMM builders and fits."""

from __future__ import annotations

import numpy as np
import pytest
from gmm_cases import TYPES, model_for, random_parameters

from models.data import load_dataset
from models.gmm_spec import parameters_to_point, point_to_parameters


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_dataset("faithful").values


@pytest.mark.parametrize("covariance_type", TYPES)
def test_point_roundtrip_in_data_units(faithful, covariance_type):
    spec = model_for(faithful, 3, covariance_type, "weak").gmm_spec
    w, mu, cov = random_parameters(np.random.default_rng(500), faithful, 3, covariance_type)
    point = parameters_to_point(spec, w, mu, cov)
    assert np.all(np.diff(point["mu_first"]) > 0)            # ordered as the model requires
    w2, mu2, cov2 = point_to_parameters(spec, point)
    perm = np.argsort(mu[:, 0])
    np.testing.assert_allclose(w2, w[perm], rtol=1e-12)
    np.testing.assert_allclose(mu2, mu[perm], rtol=1e-12)
    np.testing.assert_allclose(cov2, cov if covariance_type == "tied" else cov[perm], rtol=1e-10)
