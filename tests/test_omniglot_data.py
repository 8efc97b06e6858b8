"""The shipped Omniglot subset (maml_lite/data/omniglot28.npz): its contents, its split, and that
the build script
rebuilds it byte for byte from Lake's zips when they are at ../shared/data/omniglot."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from maml_lite.data import build_omniglot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "maml_lite" / "data"
NPZ = DATA / "omniglot28.npz"
SRC = ROOT.parent / "shared" / "data" / "omniglot"


@pytest.fixture(scope="module")
def data():
    with np.load(NPZ, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_the_file_is_small_and_holds_the_documented_arrays(data):
    assert NPZ.stat().st_size < 1_000_000
    n, c, a = 4840, 242, 8
    expected = {
        "images": ((n, 28, 28), np.uint8),
        "character": ((n,), np.int16),
        "alphabet": ((n,), np.int8),
        "drawer": ((n,), np.int8),
        "character_alphabet": ((c,), np.int8),
        "character_name": ((c,), None),
        "alphabet_name": ((a,), None),
        "alphabet_split": ((a,), None),
    }
    assert set(data) == set(expected)
    for name, (shape, dtype) in expected.items():
        assert data[name].shape == shape, name
        if dtype is not None:
            assert data[name].dtype == dtype, name
        else:
            assert data[name].dtype.kind == "U", name


def test_images_are_ink_on_blank_paper(data):
    images = data["images"]
    assert images.max() == 255 and images.min() == 0
    assert (images[:, [0, -1], :] == 0).mean() > 0.95  # the border is nearly always blank
    ink = (images > 0).mean(axis=(1, 2))
    assert ink.min() > 0.01 and ink.max() < 0.6  # every image has some ink, none is filled


def test_every_character_has_20_drawings_by_different_drawers(data):
    chars = data["character"]
    assert np.array_equal(np.bincount(chars), np.full(242, 20))
    for c in range(242):
        assert sorted(data["drawer"][chars == c]) == list(range(1, 21))
    assert np.array_equal(data["alphabet"], data["character_alphabet"][chars])


def test_no_character_twice(data):
    """Greek and Latin are in both zips: each character is kept once, and no two images are pixel-
    identical."""
    names = {
        (str(data["alphabet_name"][a]), str(n))
        for a, n in zip(data["character_alphabet"], data["character_name"])
    }
    assert len(names) == 242
    digests = {hashlib.sha256(im.tobytes()).digest() for im in data["images"]}
    assert len(digests) == len(data["images"])
    counts = dict(zip(data["alphabet_name"], np.bincount(data["character_alphabet"])))
    assert counts["Greek"] == 24 and counts["Latin"] == 26


def test_splits_are_alphabet_disjoint_and_cover_every_alphabet(data):
    split = dict(zip(data["alphabet_name"], data["alphabet_split"]))
    assert sorted(split) == sorted(build_omniglot.SPLIT) and split == build_omniglot.SPLIT
    assert set(split.values()) == {"train", "val", "test"}
    per_char = data["alphabet_split"][data["character_alphabet"]]
    test_chars, val_chars = (per_char == "test").sum(), (per_char == "val").sum()
    assert test_chars >= 20, "the test alphabets must allow 20-way episodes"
    assert (per_char == "train").sum() > test_chars + val_chars
    assert split["Greek"] == split["Latin"], (
        "Greek and Latin share look-alike letters: keep them in one split"
    )


def test_box_filter_is_an_exact_area_average():
    w = build_omniglot.box_matrix()
    assert w.shape == (28, 105) and (w.sum(1) == 15).all() and (w.sum(0) == 4).all()
    ink = np.zeros((1, 105, 105), dtype=bool)
    ink[0, :4, :4] = (
        True  # pixels 0..3 of rows and columns: output (0, 0) covers 3.75 x 3.75 of them
    )
    out = build_omniglot.downsample(ink)
    area = (
        3.75**2
    )  # output (0, 1) sees a quarter-pixel column of ink, 3.75 high; (1, 1) a quarter by a quarter
    assert (out[0, 0, 0], out[0, 0, 1], out[0, 1, 0], out[0, 1, 1]) == (
        255,
        round(255 * 0.25 * 3.75 / area),
        round(255 * 0.25 * 3.75 / area),
        round(255 * 0.25 * 0.25 / area),
    )
    assert out[0, 2:].sum() == 0 and out[0, :, 2:].sum() == 0


@pytest.mark.skipif(
    not SRC.is_dir(), reason=f"Lake's zips are not at {SRC} (only on the build machine)"
)
def test_the_script_rebuilds_the_shipped_file_byte_for_byte(tmp_path):
    out = tmp_path / "omniglot28.npz"
    assert build_omniglot.main(["--src", str(SRC), "--out", str(out)]) == 0
    with np.load(out) as new, np.load(NPZ) as old:
        for k in old.files:
            np.testing.assert_array_equal(new[k], old[k], err_msg=k)
    assert out.read_bytes() == NPZ.read_bytes()


def test_the_script_says_what_is_missing(tmp_path, capsys):
    assert build_omniglot.main(["--src", str(tmp_path), "--out", str(tmp_path / "x.npz")]) == 1
    assert "images_background_small1.zip" in capsys.readouterr().err


def test_the_licence_and_citation_travel_with_the_data():
    assert "Copyright (c) 2015 Brenden Lake" in (DATA / "LICENSE").read_text()
    readme = (DATA / "README.md").read_text()
    assert "Lake" in readme and "350(6266)" in readme and "1332" in readme
