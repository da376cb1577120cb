"""models.io: results are replaced atomically; a failure mid-write loses nothing."""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from models import io  # noqa: E402


def test_write_json_converts_numpy(tmp_path):
    path = io.write_json(tmp_path / "a" / "r.json", {"x": np.arange(3), "y": np.float64(1.5), "z": [np.int32(2)]})
    assert json.loads(path.read_text()) == {"x": [0, 1, 2], "y": 1.5, "z": [2]}


def test_failure_mid_write_keeps_previous_bytes(tmp_path):
    path = tmp_path / "result.json"
    io.write_json(path, {"good": True})
    before = path.read_bytes()

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom):
        with io.atomic_path(path) as tmp:
            tmp.write_text('{"half": ')
            raise Boom("interrupted")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["result.json"]  # no temporary file left behind


def test_interrupted_first_write_leaves_no_file(tmp_path):
    path = tmp_path / "new.nc"
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_path(path) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_unserialisable_json_does_not_clobber(tmp_path):
    path = tmp_path / "s.json"
    io.write_json(path, {"v": 1})
    with pytest.raises(TypeError):
        io.write_json(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_nonfinite_json_values_are_explicit(tmp_path):
    path = io.write_json(tmp_path / "n.json", {"a": float("nan"), "b": float("inf")})
    assert json.loads(path.read_text()) == {"a": None, "b": "inf"}


def test_save_figure_png_is_valid_and_atomic(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = io.save_figure(fig, tmp_path / "f.png")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_save_netcdf_round_trip_and_failure(tmp_path):
    import arviz as az

    idata = az.from_dict(posterior={"mu": np.random.default_rng(0).normal(size=(2, 50))})
    path = io.save_netcdf(idata, tmp_path / "post.nc")
    before = path.read_bytes()
    np.testing.assert_array_equal(az.from_netcdf(path).posterior["mu"].values, idata.posterior["mu"].values)

    class NotInferenceData:
        def to_netcdf(self, filename):
            with open(filename, "wb") as handle:
                handle.write(b"CDF\x01 truncated")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        io.save_netcdf(NotInferenceData(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["post.nc"]


def test_results_get_the_permissions_of_a_plain_open(tmp_path):
    """mkstemp's temporary file is 0600; the renamed result must follow the umask like open()."""
    import stat

    io.write_json(tmp_path / "a.json", {"x": 1})
    (tmp_path / "b.json").write_text("{}")
    mode = stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "b.json").st_mode)


# --------------------------------------------------------------------------- whole folders


def _folder(path, files: dict[str, str]):
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _contents(path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.iterdir())}


def test_replace_dir_swaps_a_finished_folder_in(tmp_path):
    old = _folder(tmp_path / "a", {"old.png": "old", "shared.json": "1"})
    new = _folder(tmp_path / ".staging-a", {"shared.json": "2", "new.nc": "new"})
    assert io.replace_dir(new, old) == old
    assert _contents(old) == {"new.nc": "new", "shared.json": "2"}  # old.png is gone: no mixing of runs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # nothing retired or staged is left
    first = _folder(tmp_path / ".staging-b", {"x": "1"})
    io.replace_dir(first, tmp_path / "b")  # no previous folder
    assert _contents(tmp_path / "b") == {"x": "1"}


def test_replace_dir_that_fails_half_way_keeps_the_previous_folder(tmp_path, monkeypatch):
    old = _folder(tmp_path / "a", {"old.png": "old"})
    new = _folder(tmp_path / ".staging-a", {"new.png": "new"})
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the staging folder onto the destination
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(io.os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        io.replace_dir(new, old)
    assert _contents(old) == {"old.png": "old"} and _contents(new) == {"new.png": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging-a", "a"]


def test_restore_retired_finishes_a_swap_a_crash_cut_in_half(tmp_path):
    # killed between the two renames: the destination is missing, the retired folder holds it
    _folder(tmp_path / f"{io.RETIRED_PREFIX}closed_forms-4242", {"fig.png": "previous"})
    # killed after the swap, before deleting the retired folder
    _folder(tmp_path / "gmm_sampling", {"fig.png": "new"})
    _folder(tmp_path / f"{io.RETIRED_PREFIX}gmm_sampling-4242", {"fig.png": "previous"})
    assert io.restore_retired(tmp_path) == ["closed_forms"]
    assert _contents(tmp_path / "closed_forms") == {"fig.png": "previous"}
    assert _contents(tmp_path / "gmm_sampling") == {"fig.png": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["closed_forms", "gmm_sampling"]


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\n1,2\n" * 1000)
    assert io.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert io.sha256_file(path) != hashlib.sha256(b"a,b\n1,2\n").hexdigest()
