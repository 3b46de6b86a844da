"""Turn images into fixed-length numeric rows, as a scikit-learn transformer: `ImageVectorizer`.

Three representations, all computed on the image resized to `size` (width, height; the aspect
ratio is not kept), so every image gives a row of the same length:

- "pixels": the resized pixels, grey (`grey=True`) or RGB, scaled to [0, 1];
- "hog": scikit-image's histogram of oriented gradients of the resized grey image, which
  describes shapes and edges and tolerates small shifts and lighting changes;
- "histogram": a histogram of each channel (grey, or R, G and B) with `bins` bins, each summing
  to 1: colour content, whatever the layout.

`transform` takes a list of PIL images, where None stands for an image that could not be read
(backend.fetch.ImageUnavailable): its row is all NaN, for the caller to skip or impute. The
transformer learns nothing (`fit` is a no-op) and keeps only its parameters, so skops saves it as
a `backend.imagefeatures.ImageVectorizer` holding strings, ints, bools and tuples.

scikit-image is an optional, heavy dependency: it is imported only for "hog".
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin

REPRESENTATIONS = ("pixels", "hog", "histogram")
RESAMPLING = Image.Resampling.BILINEAR  # antialiased when shrinking, in Pillow
SCIKIT_IMAGE_PIN = "scikit-image==0.26.0"


class ImageVectorizer(TransformerMixin, BaseEstimator):
    def __init__(self, representation: str = "pixels", size: tuple[int, int] = (32, 32), grey: bool = True,
                 bins: int = 16, orientations: int = 9, pixels_per_cell: tuple[int, int] = (8, 8),
                 cells_per_block: tuple[int, int] = (2, 2)) -> None:
        self.representation = representation
        self.size = size
        self.grey = grey
        self.bins = bins
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block

    def fit(self, images: Sequence[Image.Image | None], y: Any = None) -> ImageVectorizer:
        self._check_params()
        return self

    def transform(self, images: Sequence[Image.Image | None]) -> np.ndarray:
        """One float64 row per image; a row of NaN for None."""
        self._check_params()
        width = self.n_features_out
        rows = np.full((len(images), width), np.nan, dtype=np.float64)
        for i, image in enumerate(images):
            if image is not None:
                rows[i] = self._vector(image)
        return rows

    @property
    def n_features_out(self) -> int:
        """The length of every row, from the parameters alone."""
        self._check_params()
        width, height = self.size
        channels = 1 if self.grey else 3
        if self.representation == "pixels":
            return width * height * channels
        if self.representation == "histogram":
            return self.bins * channels
        return len(self._hog(np.zeros((height, width))))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"image_{self.representation}_{i}" for i in range(self.n_features_out)], dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False  # a list of images
        return tags

    # the representations ----------------------------------------------------------------------

    def prepare(self, image: Image.Image) -> Image.Image:
        """The image as every representation first reads it: grey or RGB, resized to `size`.
        `transform` gives a prepared image the same row as the original, so a caller holding
        many images (a training set) may keep these small ones instead of the decoded photos."""
        grey = self.grey or self.representation == "hog"
        return image.convert("L" if grey else "RGB").resize(tuple(self.size), RESAMPLING)

    def _vector(self, image: Image.Image) -> np.ndarray:
        values = np.asarray(self.prepare(image), dtype=np.float64) / 255.0  # (height, width) or (height, width, 3)
        if self.representation == "pixels":
            return values.ravel()
        if self.representation == "hog":
            return self._hog(values)
        return self._histogram(values)

    def _histogram(self, values: np.ndarray) -> np.ndarray:
        channels = values.reshape(-1, 1) if values.ndim == 2 else values.reshape(-1, 3)
        counts = [np.histogram(channels[:, c], bins=self.bins, range=(0.0, 1.0))[0] for c in range(channels.shape[1])]
        return np.concatenate(counts).astype(np.float64) / len(channels)

    def _hog(self, grey: np.ndarray) -> np.ndarray:
        hog = _scikit_image_hog()
        return np.asarray(hog(grey, orientations=self.orientations, pixels_per_cell=tuple(self.pixels_per_cell),
                              cells_per_block=tuple(self.cells_per_block), feature_vector=True),
                          dtype=np.float64)

    def _check_params(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"'representation' must be one of {', '.join(map(repr, REPRESENTATIONS))}; "
                             f"got {self.representation!r}")
        _check_pair("size", self.size)
        _check_int("bins", self.bins, 1, 256)
        if self.representation == "hog":
            _check_int("orientations", self.orientations, 1, 360)
            _check_pair("pixels_per_cell", self.pixels_per_cell)
            _check_pair("cells_per_block", self.cells_per_block)
            for axis, name in ((0, "height"), (1, "width")):  # skimage's (rows, columns) order
                needed = self.pixels_per_cell[axis] * self.cells_per_block[axis]
                if self.size[1 - axis] < needed:
                    raise ValueError(f"'size' must give a {name} of at least pixels_per_cell x cells_per_block "
                                     f"= {needed} pixels for 'hog'; got {tuple(self.size)}")


def _check_pair(name: str, value: Any) -> None:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"'{name}' must be two integers greater than 0; got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"'{name}' must be an integer from {low} to {high}; got {value!r}")


def _scikit_image_hog() -> Any:
    try:
        return importlib.import_module("skimage.feature").hog
    except ImportError:
        raise ImportError(f"the 'hog' image representation needs scikit-image: pip install {SCIKIT_IMAGE_PIN}, "
                          "or choose 'pixels' or 'histogram'") from None
