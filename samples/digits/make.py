"""Generate the images, tasks.json and heldout_labels.json of the `digits` sample.

The images are handwritten digits from the optical recognition dataset that scikit-learn ships
(BSD-3-Clause; UCI's "Optical Recognition of Handwritten Digits", see README.md), read from the
installed package with `sklearn.datasets.load_digits()`, so no network is needed. Run from anywhere:

    python -m venv /tmp/digits-venv
    /tmp/digits-venv/bin/pip install scikit-learn==1.9.1 pillow==13.0.0
    /tmp/digits-venv/bin/python samples/digits/make.py          # rewrite images/ and the JSON files
    /tmp/digits-venv/bin/python samples/digits/make.py --check  # exit 1 if any of them is stale

The output is deterministic: same package versions, same seed, same files.

What it does:
1. Loads the 1,797 digits: 8 x 8 grey levels from 0 (paper) to 16 (ink), and their class, 0-9.
2. Keeps PER_CLASS of each class, drawn at random (fixed seed), and writes each as a PNG,
   images/dNNNN.png (NNNN: its index in the dataset), dark ink on white (level 16 -> 0,
   0 -> 255) and upscaled to 32 x 32 with nearest-neighbour, so that each original pixel is a
   4 x 4 block, big enough to see in Label Studio.
3. Annotates N_ANNOTATED tasks, the same number per class, ordered so that every prefix of the
   annotated tasks is itself stratified (the first 10 hold one digit of every class), spread
   over random positions of the task list.
4. Writes tasks.json (Label Studio import format; an image's URL is Label Studio's local-files
   path, /data/local-files/?d=images/dNNNN.png, relative to LOCAL_FILES_DOCUMENT_ROOT = this
   folder; annotated tasks carry one `choices` result) and heldout_labels.json (the true digit
   of every task, in the same order).
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from layout import layout, main  # noqa: E402  (samples/layout.py, shared by the samples)
from PIL import Image
from sklearn.datasets import load_digits

PER_CLASS = 30
N_ANNOTATED = 100
SEED = 20250601
SIDE = 32  # pixels of a written image (the dataset's are 8)
FROM_NAME, TO_NAME, DATA_FIELD = "digit", "image", "image"  # as in labeling_config.xml
HERE = Path(__file__).resolve().parent


def png(levels: list[list[float]]) -> bytes:
    """An 8 x 8 digit (levels 0-16) as a SIDE x SIDE grey PNG, dark ink on white."""
    grey = Image.new("L", (8, 8))
    grey.putdata([255 - round(level * 255 / 16) for row in levels for level in row])
    buffer = io.BytesIO()
    grey.resize((SIDE, SIDE), Image.Resampling.NEAREST).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def chosen() -> dict[str, list[int]]:
    """The dataset indexes kept, by class (as the string Label Studio's choice holds)."""
    digits = load_digits()
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(digits.target.tolist()):
        by_class.setdefault(str(label), []).append(index)
    rng = random.Random(SEED)
    return {label: sorted(rng.sample(indexes, PER_CLASS)) for label, indexes in sorted(by_class.items())}


def image_name(index: int) -> str:
    return f"d{index:04d}.png"


def images() -> dict[str, bytes]:
    """images/ as it should be: file name -> PNG bytes."""
    levels = load_digits().images.tolist()
    return {image_name(i): png(levels[i]) for indexes in chosen().values() for i in indexes}


def build() -> tuple[list[dict], list[str]]:
    rng = random.Random(SEED + 1)
    tasks, labels = [], []
    for index, label, annotated in layout(chosen(), N_ANNOTATED, rng):
        task: dict = {"data": {DATA_FIELD: f"/data/local-files/?d=images/{image_name(index)}"}}
        if annotated:
            task["annotations"] = [{"result": [{
                "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                "value": {"choices": [label]},
            }]}]
        tasks.append(task)
        labels.append(label)
    return tasks, labels


def write_images(folder: Path, check: bool) -> bool:
    """Write images/ (or, with `check`, compare it); whether it was up to date."""
    wanted = images()
    present = {p.name: p.read_bytes() for p in folder.glob("*.png")} if folder.is_dir() else {}
    if check:
        stale = sorted(set(wanted) ^ set(present) | {n for n in wanted if present.get(n, wanted[n]) != wanted[n]})
        if stale:
            print(f"stale images: {len(stale)}, e.g. images/{stale[0]}")
        return not stale
    folder.mkdir(parents=True, exist_ok=True)
    for name in set(present) - set(wanted):
        (folder / name).unlink()
    for name, data in wanted.items():
        if present.get(name) != data:
            (folder / name).write_bytes(data)
    print(f"{len(wanted)} images in {folder} ({sum(map(len, wanted.values()))} bytes)")
    return True


if __name__ == "__main__":
    options = argparse.ArgumentParser(add_help=False)  # layout.main parses (and documents) the same
    options.add_argument("--out", type=Path, default=HERE)
    options.add_argument("--check", action="store_true")
    known, _ = options.parse_known_args()
    status = main(build, HERE)  # first: it answers --help and refuses unknown options
    fresh = write_images(known.out / "images", known.check)
    sys.exit(status or (0 if fresh else 1))
