"""backend.imagefeatures.ImageVectorizer on images drawn with numpy and Pillow."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import skops.io as sio
from backend.imagefeatures import ImageVectorizer
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_is_fitted

HAS_SCIKIT_IMAGE = importlib.util.find_spec("skimage") is not None
needs_scikit_image = pytest.mark.skipif(not HAS_SCIKIT_IMAGE, reason="scikit-image is not installed")


def noise(seed: int, size: tuple[int, int] = (50, 40)) -> Image.Image:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(values, "RGB")


def stripes(vertical: bool, size: tuple[int, int] = (64, 64)) -> Image.Image:
    values = np.zeros((size[1], size[0]), dtype=np.uint8)
    if vertical:
        values[:, ::8] = 255
    else:
        values[::8, :] = 255
    return Image.fromarray(values, "L").convert("RGB")


def plain(color: tuple[int, int, int], size: tuple[int, int] = (20, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


def test_pixels_grey_and_colour() -> None:
    images = [noise(0), noise(1), plain((255, 255, 255))]
    grey = ImageVectorizer("pixels", size=(16, 8)).transform(images)
    colour = ImageVectorizer("pixels", size=(16, 8), grey=False).transform(images)
    assert grey.shape == (3, 128) and colour.shape == (3, 384)
    assert grey.dtype == colour.dtype == np.float64
    assert 0.0 <= grey.min() and grey.max() <= 1.0 and 0.0 <= colour.min() and colour.max() <= 1.0
    assert np.allclose(grey[2], 1.0) and np.allclose(colour[2], 1.0)
    assert not np.allclose(grey[0], grey[1])
    red = ImageVectorizer("pixels", size=(2, 2), grey=False).transform([plain((255, 0, 0))])[0]
    assert red.tolist() == [1.0, 0.0, 0.0] * 4  # row-major pixels, RGB within each


def test_histogram() -> None:
    images = [plain((255, 0, 0)), plain((0, 0, 255)), noise(2)]
    colour = ImageVectorizer("histogram", grey=False, bins=4).transform(images)
    grey = ImageVectorizer("histogram", bins=8).transform(images)
    assert colour.shape == (3, 12) and grey.shape == (3, 8)
    assert np.allclose(colour.reshape(3, 3, 4).sum(axis=2), 1.0)  # each channel's histogram sums to 1
    assert np.allclose(grey.sum(axis=1), 1.0)
    assert colour[0].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0]  # red: R high, G and B low
    assert colour[1].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]


@needs_scikit_image
def test_hog() -> None:
    vectorizer = ImageVectorizer("hog")
    rows = vectorizer.transform([stripes(True), stripes(False), noise(3)])
    # 32x32 pixels, 8x8 cells: 4x4 cells, 3x3 blocks of 2x2 cells, 9 orientations each
    assert rows.shape == (3, 3 * 3 * 2 * 2 * 9) == (3, vectorizer.n_features_out)
    assert rows.dtype == np.float64 and np.isfinite(rows).all() and rows.min() >= 0.0
    assert not np.allclose(rows[0], rows[1])
    coarse = ImageVectorizer("hog", size=(48, 32), orientations=6, pixels_per_cell=(16, 16), cells_per_block=(1, 1))
    assert coarse.transform([noise(4)]).shape == (1, 2 * 3 * 6)  # (rows, columns) of cells: 32/16, 48/16


@needs_scikit_image
def test_hog_ignores_colour() -> None:
    image = noise(5)
    assert np.array_equal(ImageVectorizer("hog", grey=False).transform([image]),
                          ImageVectorizer("hog").transform([image]))


@pytest.mark.parametrize("representation", ["pixels", "histogram"] + (["hog"] if HAS_SCIKIT_IMAGE else []))
def test_unavailable_images_give_nan_rows(representation: str) -> None:
    vectorizer = ImageVectorizer(representation)
    rows = vectorizer.transform([None, noise(6), None])
    assert rows.shape == (3, vectorizer.n_features_out)
    assert np.isnan(rows[0]).all() and np.isnan(rows[2]).all() and np.isfinite(rows[1]).all()
    assert vectorizer.transform([None]).shape == (1, vectorizer.n_features_out)
    assert vectorizer.transform([]).shape == (0, vectorizer.n_features_out)
    assert len(vectorizer.get_feature_names_out()) == vectorizer.n_features_out


def test_distinct_images_give_distinct_rows_and_equal_ones_equal_rows() -> None:
    images = [noise(seed) for seed in range(6)] + [noise(0)]
    for representation in ["pixels", "histogram"] + (["hog"] if HAS_SCIKIT_IMAGE else []):
        rows = ImageVectorizer(representation, grey=False).transform(images)
        assert len({row.tobytes() for row in rows[:6]}) == 6, representation
        assert np.array_equal(rows[0], rows[6])


def test_any_mode_and_size_is_accepted() -> None:
    images = [Image.new(mode, (7, 300)) for mode in ("RGB", "RGBA", "L", "P", "1", "CMYK")]
    assert ImageVectorizer("pixels", grey=False).transform(images).shape == (6, 32 * 32 * 3)


def test_fit_is_a_no_op_and_it_works_in_a_pipeline() -> None:
    vectorizer = ImageVectorizer("histogram")
    assert vectorizer.fit([noise(7)]) is vectorizer and vars(vectorizer) == vars(clone(vectorizer))
    check_is_fitted(vectorizer)  # stateless: fitted as built
    pipeline = make_pipeline(ImageVectorizer("pixels", size=(4, 4)))
    assert pipeline.fit_transform([noise(8), noise(9)]).shape == (2, 16)


def test_skops_saves_it_as_a_backend_type_only() -> None:
    vectorizer = ImageVectorizer("histogram", size=(24, 16), grey=False, bins=8)
    data = sio.dumps(vectorizer)
    assert sio.get_untrusted_types(data=data) == ["backend.imagefeatures.ImageVectorizer"]
    loaded = sio.loads(data, trusted=["backend.imagefeatures.ImageVectorizer"])
    assert loaded.get_params() == vectorizer.get_params()
    image = noise(10)
    assert np.array_equal(loaded.transform([image]), vectorizer.transform([image]))


@pytest.mark.parametrize(("params", "message"), [
    ({"representation": "sift"}, "'representation' must be one of"),
    ({"size": (0, 4)}, "'size' must be two integers greater than 0"),
    ({"size": 32}, "'size' must be two integers"),
    ({"bins": 0}, "'bins' must be an integer from 1 to 256"),
    ({"representation": "hog", "size": (8, 32)}, "width of at least"),
    ({"representation": "hog", "pixels_per_cell": (8,)}, "'pixels_per_cell' must be two integers"),
])
def test_bad_params_are_reported(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImageVectorizer(**params).transform([noise(11)])


def test_hog_without_scikit_image_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_skimage(name: str, *args: object, **kwargs: object) -> object:
        if name == "skimage" or name.startswith("skimage."):
            raise ModuleNotFoundError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skimage)
    monkeypatch.setattr("importlib.import_module", lambda name: no_skimage(name))
    with pytest.raises(ImportError, match="pip install scikit-image=="):
        ImageVectorizer("hog").transform([noise(12)])
    assert ImageVectorizer("pixels").transform([noise(12)]).shape == (1, 1024)  # the others need none
