"""Regenerate resnet_deploy/data/digits.npz from scikit-learn (a maintainer's tool, not run at install).

    python scripts/make_digits_npz.py        # needs scikit-learn (a dev dependency)

The package ships the 1,797 digits and their fixed split so that scikit-learn and scipy are
not runtime dependencies. The split is exactly the one the project used before shipping the
file: `train_test_split(arange(1797), test_size=360, stratify=labels, random_state=0)`, in the
order it returns (tests/data/test_digits_bundle.py checks the shipped file against it).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "resnet_deploy" / "data" / "digits.npz"
PROVENANCE = (
    "Optical Recognition of Handwritten Digits (E. Alpaydin, C. Kaynak, 1998), UCI Machine Learning "
    "Repository, https://doi.org/10.24432/C50P49, licence CC BY 4.0: the 1,797-image test part "
    "(8x8, values 0..16) as distributed by scikit-learn (sklearn.datasets.load_digits, "
    "digits.csv.gz; scikit-learn is BSD-3-Clause). Split: sklearn.model_selection.train_test_split("
    "arange(1797), test_size=360, stratify=labels, random_state=0), indices in the order returned."
)


def build() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images
    if not np.array_equal(images, np.round(images)) or images.min() < 0 or images.max() > 16:
        raise SystemExit("scikit-learn's digits are no longer integers 0..16; check the source")
    labels = digits.target
    train, val = train_test_split(np.arange(len(labels)), test_size=360, stratify=labels, random_state=0)
    return {"images": images.astype(np.uint8), "labels": labels.astype(np.uint8),
            "train_index": train.astype(np.int16), "val_index": val.astype(np.int16),
            "provenance": np.array(PROVENANCE)}


def main() -> int:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **build())
    OUT.write_bytes(buffer.getvalue())
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
