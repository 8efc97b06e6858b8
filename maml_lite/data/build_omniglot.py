"""Build maml_lite/data/omniglot28.npz from Brenden Lake's two "minimal" Omniglot background sets.

    python -m maml_lite.data.build_omniglot --src ../shared/data/omniglot \
        --out maml_lite/data/omniglot28.npz

Reads images_background_small1.zip and images_background_small2.zip (MIT, Lake, Salakhutdinov and
Tenenbaum 2015), decodes every 105x105 binary PNG, turns it into ink (1 = pen) and shrinks it to
28x28 by an exact box filter (each output pixel is the mean ink over the 3.75 x 3.75 input pixels it
covers, computed in integers), stored as uint8 0..255. Greek and Latin are in both zips: they are
kept once, after checking that each duplicate image is pixel-identical. The alphabet-disjoint split
is fixed below (SPLIT) and written into the file. The output is a .npz (a zip of .npy arrays)
written with fixed timestamps, so that a rebuild is byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ZIPS = ("images_background_small1.zip", "images_background_small2.zip")
SIZE = 28
SOURCE_SIZE = 105

# Alphabet-disjoint split. Greek and Latin share many look-alike letters (A/Alpha, B/Beta,
# E/Epsilon, ...): kept
# together in training so that no test character is a near-copy of a training one and no episode
# pits two
# look-alikes against each other at test time. Of the other six, the three largest (Korean 40,
# Japanese katakana 47,
# Sanskrit 42 characters) train too, so that training sees the most characters (179, 716 classes
# with rotations).
# The three smallest are held out: Balinese (24) and Early Aramaic (22) are the test set, 46
# characters from two
# alphabets, so that a 20-way episode draws 20 of 46 characters across two scripts rather than
# almost a whole single
# alphabet; Tagalog (17) is the validation set (up to 17-way episodes), used to choose recipes.
SPLIT = {
    "Greek": "train",
    "Latin": "train",
    "Korean": "train",
    "Japanese_(katakana)": "train",
    "Sanskrit": "train",
    "Tagalog": "val",
    "Balinese": "test",
    "Early_Aramaic": "test",
}
FILE_NAME = re.compile(r"^images_background_small[12]/([^/]+)/(character\d\d)/(\d{4})_(\d\d)\.png$")


def box_matrix(n_in: int = SOURCE_SIZE, n_out: int = SIZE) -> np.ndarray:
    """(n_out, n_in) int64 weights of an exact box filter, scaled so that each row sums to
    n_in * 4 / gcd.

    Output pixel i covers input interval [i * n_in / n_out, (i + 1) * n_in / n_out); its weight on
    input pixel j is the length of the overlap. For 105 -> 28 the interval is 3.75 pixels long, so
    the overlaps are multiples of 1/4: times 4 they are the integers 4, 3, 2, 1 and each row sums to
    15.
    """
    scale = 4 * n_out  # overlap * scale is an integer when 4 * n_in / n_out is
    if (4 * n_in) % n_out:
        raise ValueError(f"box_matrix needs 4 * n_in divisible by n_out, got {n_in} -> {n_out}")
    w = np.zeros((n_out, n_in), dtype=np.int64)
    for i in range(n_out):
        lo, hi = (
            i * n_in * scale // n_out,
            (i + 1) * n_in * scale // n_out,
        )  # in units of 1/scale pixel
        for j in range(n_in):
            w[i, j] = max(0, min(hi, (j + 1) * scale) - max(lo, j * scale))
    return w // np.gcd.reduce(w[w > 0])


def downsample(ink: np.ndarray) -> np.ndarray:
    """ink: (n, 105, 105) bool, True where the pen went -> (n, 28, 28) uint8, the mean ink per
    output pixel * 255,
    rounded half up, in exact integer arithmetic."""
    w = box_matrix()
    total = int(w[0].sum()) ** 2
    s = np.einsum("ij,njk,lk->nil", w, ink.astype(np.int64), w, optimize=True)
    return ((255 * s + total // 2) // total).astype(np.uint8)


def read_zip(path: Path) -> dict[tuple[str, str, int], np.ndarray]:
    """{(alphabet, character, drawer 1..20): (105, 105) bool ink} for every PNG in one of Lake's
    zips."""
    images = {}
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            if not name.endswith(".png"):
                continue
            m = FILE_NAME.match(name)
            if not m:
                raise ValueError(
                    f"{path.name}: unexpected file {name!r}; is this one of Lake's background zips?"
                )
            alphabet, character, _, drawer = m.groups()
            pixels = np.array(Image.open(io.BytesIO(zf.read(name))).convert("1"))
            if pixels.shape != (SOURCE_SIZE, SOURCE_SIZE):
                raise ValueError(
                    f"{path.name}: {name} is {pixels.shape}, expected {SOURCE_SIZE}x{SOURCE_SIZE}"
                )
            images[
                (alphabet, character, int(drawer))
            ] = ~pixels  # the PNGs are white (True) paper, black ink
    return images


def build(src: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of the .npz, and a report (dedup findings, counts) as lines of text."""
    missing = [z for z in ZIPS if not (src / z).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{src} lacks {', '.join(missing)}; pass --src the folder holding Lake's "
            f"images_background_small1.zip and images_background_small2.zip"
        )
    report, merged, sources = [], {}, {}
    for z in ZIPS:
        report.append(f"{z}: sha256 {hashlib.sha256((src / z).read_bytes()).hexdigest()}")
        for key, ink in read_zip(src / z).items():
            if key in merged:
                if not np.array_equal(merged[key], ink):
                    raise ValueError(
                        f"{key} is in both zips with different pixels; refusing to deduplicate"
                    )
                sources[key[0]].add(z)
                continue
            merged[key] = ink
            sources.setdefault(key[0], set()).add(z)
    n_read = len(merged)
    both = sorted(a for a, s in sources.items() if len(s) == 2)
    report.append(f"alphabets in both zips (every image pixel-identical, kept once): {both}")
    unknown = sorted(set(sources) - set(SPLIT)) + sorted(set(SPLIT) - set(sources))
    if unknown:
        raise ValueError(f"alphabets {unknown} are not both in the zips and in SPLIT; update SPLIT")

    alphabets = sorted(sources)
    characters = sorted({(a, c) for a, c, _ in merged})
    char_index = {ac: i for i, ac in enumerate(characters)}
    keys = sorted(merged)
    images = downsample(np.stack([merged[k] for k in keys]))
    # exact duplicates between different images (after dedup): none expected
    first_with: dict[bytes, tuple] = {}
    same_105 = []
    for k in keys:
        first = first_with.setdefault(merged[k].tobytes(), k)
        if first != k:
            same_105.append((first, k))
    report.append(
        f"{n_read} distinct images of {len(characters)} characters in {len(alphabets)} alphabets; "
        f"pixel-identical pairs among different images: {len(same_105)} {same_105[:5]}"
    )
    arrays = {
        "images": images,  # (N, 28, 28) uint8
        "character": np.array([char_index[(a, c)] for a, c, _ in keys], dtype=np.int16),  # (N,)
        "alphabet": np.array([alphabets.index(a) for a, _, _ in keys], dtype=np.int8),  # (N,)
        "drawer": np.array([d for _, _, d in keys], dtype=np.int8),  # (N,) 1..20
        "character_alphabet": np.array(
            [alphabets.index(a) for a, _ in characters], dtype=np.int8
        ),  # (C,)
        "character_name": np.array([c for _, c in characters]),  # (C,) "character01"
        "alphabet_name": np.array(alphabets),  # (A,)
        "alphabet_split": np.array([SPLIT[a] for a in alphabets]),  # (A,) train/val/test
    }
    for split in ("train", "val", "test"):
        names = [a for a in alphabets if SPLIT[a] == split]
        n_char = sum(1 for a, _ in characters if SPLIT[a] == split)
        report.append(
            f"{split}: {n_char} characters, {n_char * 20} images: "
            + ", ".join(f"{a} ({sum(1 for b, _ in characters if b == a)})" for a in names)
        )
    return arrays, report


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with fixed zip timestamps and order, so the bytes depend on the
    arrays only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(arrays):
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue(), compresslevel=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--src",
        type=Path,
        default=Path("../shared/data/omniglot"),
        help="folder with images_background_small1.zip and images_background_small2.zip",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("omniglot28.npz"))
    args = parser.parse_args(argv)
    try:
        arrays, report = build(args.src)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_npz(args.out, arrays)
    print("\n".join(report))
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 "
        f"{hashlib.sha256(args.out.read_bytes()).hexdigest()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
