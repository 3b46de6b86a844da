"""Read the images of a batch of rows before they are vectorized: `ImageLoader`.

`read_row` leaves an image feature's cell as the task's URL; `ImageLoader.load` replaces it, for a
whole batch at once, by the image as the feature's ImageVectorizer reads it (grey or RGB, resized:
`ImageVectorizer.prepare`, so a training set holds small images, not decoded photos), or by None
when it cannot be read. The caller leaves those rows out: a /predict gives their tasks the empty
prediction, a training learns without them. Each such task gets one log line: its id, the URL
(shortened) and why.

One ImageFetcher (backend/fetch.py) per process, its disk cache in `$MODEL_DIR/images`, shared by
the server's threads and the worker. A batch is fetched by a few threads, within a deadline for
the whole batch: Label Studio gives up on a /predict after 100 s (ML_TIMEOUT_PREDICT), so a
/predict waits PREDICT_SECONDS at most, and an image still downloading then counts as unread.

Credentials: the Label Studio client that backend/sync.py's `files_client_for` makes for the
project (LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY when set, else the address and token its
latest /setup sent), looked up once per batch.

Only wiring imports this module, and only for a spec with an image feature: it imports Pillow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from PIL import Image

from .features import FEATURES, FeatureSpec
from .fetch import Credentials, ImageFetcher, ImageUnavailable, shorten_url
from .labelstudio import LabelStudio

log = logging.getLogger(__name__)

PREDICT_SECONDS = 60.0  # a /predict batch's images, all of them: well inside Label Studio's 100 s
TRAINING_SECONDS = 1800.0  # a training's images (in the worker; most come from the disk cache)
THREADS = 4  # downloads at once for a batch: I/O-bound, and kind to Label Studio

ClientSource = Callable[[str], "LabelStudio | None"]  # project -> a client of its Label Studio


class ImageLoader:
    predict_seconds = PREDICT_SECONDS  # the deadlines of a batch, by caller
    training_seconds = TRAINING_SECONDS

    def __init__(self, features: Sequence[FeatureSpec], cache_dir: Path | None,
                 client_for: ClientSource, fetcher: ImageFetcher | None = None) -> None:
        """`features`: the spec's, in row order; `client_for`: sync.files_client_for, bound to the service."""
        # column -> the feature's ImageVectorizer, whose `prepare` gives the image to keep
        self.vectorizers = {i: FEATURES["image"].transformer(f) for i, f in enumerate(features) if f["type"] == "image"}
        self.fetcher = fetcher or ImageFetcher(cache_dir)
        self.client_for = client_for

    def credentials(self, project: str) -> Credentials | None:
        """How to reach the project's Label Studio, or None when the backend does not know."""
        client = self.client_for(project)
        return Credentials(client.url, client.api_key) if client is not None else None

    def load(self, project: str, rows: list[list[Any]], task_ids: Sequence[Any], seconds: float | None = None,
             names: Sequence[str] | None = None) -> set[int]:
        """Replace each image cell of `rows` (in place) by its image, or None; returns the indexes
        of the rows with an image unread. `task_ids` serve the presign URLs of cloud storage and the
        log; `names` (default "task <id>") name the rows in the log; `seconds` is the deadline for them
        all (default `predict_seconds`)."""
        jobs = [(r, c) for r in range(len(rows)) for c in self.vectorizers]
        if not jobs:
            return set()
        credentials = self.credentials(project)
        seconds = self.predict_seconds if seconds is None else seconds
        problems: dict[int, list[str]] = {}
        for (r, c), outcome in zip(jobs, self._run(jobs, rows, credentials, task_ids, seconds)):
            image, problem = outcome
            rows[r][c] = image
            if problem is not None:
                problems.setdefault(r, []).append(problem)
        for r, found in problems.items():
            name = names[r] if names is not None else f"task {task_ids[r]}"
            log.warning("project %s: %s: no image, left out: %s", project, name, "; ".join(found))
        return set(problems)

    def _run(self, jobs: list[tuple[int, int]], rows: list[list[Any]], credentials: Credentials | None,
             task_ids: Sequence[Any], seconds: float) -> list[tuple[Image.Image | None, str | None]]:
        """(image, None) or (None, why) for each job, in order, within `seconds` for them all."""
        def one(r: int, c: int) -> tuple[Image.Image | None, str | None]:
            return self._one(rows[r][c], c, credentials, task_ids[r])

        if len(jobs) == 1:  # a one-task /predict: no thread to start (a fetch has its own time limit)
            return [one(*jobs[0])]
        deadline = time.monotonic() + seconds
        pool = ThreadPoolExecutor(max_workers=min(THREADS, len(jobs)), thread_name_prefix="images")
        try:
            futures = [pool.submit(one, r, c) for r, c in jobs]
            wait(futures, timeout=max(deadline - time.monotonic(), 0.0))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a download still running ends on its own timeouts
        late = f"not read within the batch's {seconds:g} s"
        return [f.result() if f.done() and not f.cancelled() else
                (None, f"image {shorten_url(rows[r][c])}: {late}") for f, (r, c) in zip(futures, jobs)]

    def _one(self, url: Any, column: int, credentials: Credentials | None,
             task_id: Any) -> tuple[Image.Image | None, str | None]:
        try:
            if url is None:
                raise ImageUnavailable("the task holds no image URL")
            image = self.fetcher.load_image(url, credentials, task_id=task_id)
            return self.vectorizers[column].prepare(image), None
        except ImageUnavailable as exc:
            return None, str(exc)
        except Exception as exc:  # a bug or a library's surprise: the task goes, the batch stays
            log.exception("reading image %s failed", shorten_url(url))
            return None, f"image {shorten_url(url)}: {type(exc).__name__}: {exc}"
