"""Read the image a task's data points at, safely: from Label Studio, cloud storage, the web or a data: URI.

Label Studio gives an `<Image>` a URL of one of these forms (PROTOCOL.md §1.8a):

- `/data/upload/<project>/<file>` and `/data/local-files/?d=<path>`: relative to Label Studio's
  address (a path prefix in it is kept), read with the project's credentials;
- `s3://`, `gs://`, `azure-blob://`: read through Label Studio's presign endpoint for the task,
  `GET /tasks/<task id>/presign/?fileuri=<urlsafe base64 of the URI>` (label_studio
  io_storages/urls.py and proxy_api.py in 1.23.2), which answers 303 to a presigned URL on the
  storage's host, or streams the object itself when the storage has presign off;
- `http(s)://...`: fetched as is; `data:` URIs (base64 or percent-encoded): decoded.

Credentials go only to Label Studio's own origin (scheme, host and port of `Credentials.url`),
and only while every hop so far stayed there: a redirect off Label Studio (the presigned URL)
and everything after it is fetched without them. Redirects are followed by hand, to http(s) only.
The token is handled by backend.labelstudio's client: a legacy token is sent as `Token <key>`, a
personal access token is exchanged at POST /api/token/refresh/ ({"refresh": key} -> {"access": jwt})
and sent as `Bearer <access>`, refreshed once when Label Studio answers 401.

What is accepted: `image/*` bodies; `application/octet-stream` (or no content type), which cloud
storages often serve, only when Pillow recognises the bytes as an image; nothing larger than
`max_bytes`, stopped while streaming whatever Content-Length says. Timeouts: `connect_timeout` to
connect, `read_timeout` for each read, `total_timeout` for a whole fetch (redirects included).
Every failure is one `ImageUnavailable` with a one-line message.

Fetched bytes are kept in a disk cache (one file per resolved URL, named by its SHA-256, written to
a temporary file and renamed, capped at `cache_bytes` with the least recently used files evicted),
shared by the threads and processes that use the same directory. Entries are never revalidated:
an uploaded file or a cloud object behind a task does not change in practice, and the presign
endpoint's URL (task id and URI) is the key, not the short-lived presigned URL. data: URIs are not
cached. Decoding (`decode_image`) refuses formats outside SAFE_FORMATS and images of more than
`max_pixels` pixels, checked on the header before any pixel is decoded.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import http.client
import io
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .labelstudio import LabelStudio, LabelStudioError

log = logging.getLogger(__name__)

MB = 1024 * 1024
CLOUD_SCHEMES = ("s3", "gs", "azure-blob")
REDIRECTS = (301, 302, 303, 307, 308)
OCTET_STREAMS = ("application/octet-stream", "binary/octet-stream", "")
# Pillow formats decoded; others (EPS runs Ghostscript, and the exotic ones) are refused. JPEG
# covers MPO (cameras' multi-picture JPEG), which Pillow opens through its JPEG plugin: "MPO" is no
# key of Image.OPEN, and naming it made every undecodable file fail with "KeyError: 'MPO'".
SAFE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "AVIF")
CHUNK = 64 * 1024
USER_AGENT = "label-studio-ml-backend-image-fetcher"


class ImageUnavailable(Exception):
    """A task's image cannot be read; `reason` says why, in one line."""

    def __init__(self, reason: str, url: str | None = None) -> None:
        self.reason = " ".join(reason.split())
        self.url = url
        super().__init__(f"image {url}: {self.reason}" if url else self.reason)


@dataclass(frozen=True)
class Credentials:
    """How to reach a project's Label Studio: its address and an API key (a legacy token or a
    personal access token; empty to send none)."""

    url: str
    token: str | None = None


CredentialsSource = Callable[[str], "Credentials | None"]  # project id -> its credentials


class ImageFetcher:
    def __init__(self, cache_dir: str | Path | None = None, *, max_bytes: int = 20 * MB,
                 max_pixels: int = 40_000_000, connect_timeout: float = 3.0, read_timeout: float = 10.0,
                 total_timeout: float = 30.0, cache_bytes: int = 500 * MB, max_redirects: int = 5,
                 credentials_for: CredentialsSource | None = None) -> None:
        """`cache_dir`: where fetched images are kept (None or `cache_bytes=0`: no disk cache);
        `credentials_for`: a project id's credentials, used when `fetch` gets a project but none."""
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.credentials_for = credentials_for
        self.cache = DiskCache(Path(cache_dir), cache_bytes) if cache_dir is not None and cache_bytes > 0 else None
        self._opener = _opener(read_timeout)
        self._authorizers: dict[Credentials, _Authorizer] = {}
        self._inflight: dict[str, list] = {}  # cache key -> [lock, users]
        self._lock = threading.Lock()

    # the calls ---------------------------------------------------------------------------------

    def fetch(self, url: str, credentials: Credentials | None = None, *, task_id: int | str | None = None,
              project: str | None = None) -> bytes:
        """The bytes of the image at `url` (a task's data value); `task_id` is needed for cloud
        storage URIs, `credentials` (or `project`, through `credentials_for`) for Label Studio's."""
        if credentials is None and project is not None and self.credentials_for is not None:
            credentials = self.credentials_for(project)
        try:
            if not isinstance(url, str) or not url.strip():
                raise ImageUnavailable("the task holds no image URL")
            url = url.strip()
            if url[:5].lower() == "data:":
                return self._data_uri(url)
            try:
                target = resolve_url(url, credentials, task_id)
            except ValueError as exc:  # urlsplit: a malformed host or port
                raise ImageUnavailable(f"invalid URL: {exc}") from None
            return self._cached(target, credentials)
        except ImageUnavailable as exc:
            raise ImageUnavailable(exc.reason, shorten_url(url)) from None

    def load_image(self, url: str, credentials: Credentials | None = None, *, task_id: int | str | None = None,
                   project: str | None = None) -> Image.Image:
        """The image at `url`, decoded and converted to RGB (see `fetch` and `decode_image`)."""
        data = self.fetch(url, credentials, task_id=task_id, project=project)
        try:
            return decode_image(data, self.max_pixels)
        except ImageUnavailable as exc:
            raise ImageUnavailable(exc.reason, shorten_url(url)) from None

    # caching -----------------------------------------------------------------------------------

    def _cached(self, target: str, credentials: Credentials | None) -> bytes:
        if self.cache is None:
            return self._download(target, credentials)
        found = self.cache.get(target)
        if found is not None:
            return found
        with self._only_one(target):  # threads asking for one image wait for the first download
            found = self.cache.get(target)
            if found is None:
                found = self._download(target, credentials)
                self.cache.put(target, found)
            return found

    def _only_one(self, key: str) -> _KeyLock:
        with self._lock:
            entry = self._inflight.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        return _KeyLock(self, key, entry)

    # the network -------------------------------------------------------------------------------

    def _download(self, url: str, credentials: Credentials | None) -> bytes:
        deadline = time.monotonic() + self.total_timeout
        authorizer = self._authorizer(credentials)
        trusted = authorizer is not None and same_origin(url, credentials.url)
        hops, refreshed = 0, False
        while True:
            if time.monotonic() > deadline:
                raise ImageUnavailable(f"took longer than {self.total_timeout:g} s to download")
            auth = authorizer.header() if trusted else None
            try:
                response = self._open(url, auth, deadline)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code in REDIRECTS and hops < self.max_redirects:
                    url, hops = _redirect_target(url, exc.headers.get("Location")), hops + 1
                    trusted = trusted and same_origin(url, credentials.url)
                    continue
                if exc.code == 401 and auth and auth.startswith("Bearer ") and not refreshed:
                    authorizer.expire(auth)  # the access token expired: refresh once
                    refreshed = True
                    continue
                raise ImageUnavailable(_http_problem(exc, hops, auth, credentials, url)) from None
            with response:
                return self._read(response, deadline)

    def _open(self, url: str, auth: str | None, deadline: float) -> http.client.HTTPResponse:
        headers = {"User-Agent": USER_AGENT, "Accept": "image/*, */*;q=0.1"}
        if auth:
            headers["Authorization"] = auth
        timeout = min(self.connect_timeout, max(deadline - time.monotonic(), 0.001))
        try:
            return self._opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError:
            raise
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ImageUnavailable(f"timed out connecting to {_origin(url)}") from None
            raise ImageUnavailable(f"cannot connect to {_origin(url)}: {exc.reason}") from None
        except TimeoutError:
            raise ImageUnavailable(f"timed out waiting for {_origin(url)} to answer") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            raise ImageUnavailable(f"cannot read from {_origin(url)}: {type(exc).__name__}: {exc}") from None

    def _read(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
        raw_type = response.headers.get("Content-Type") or ""
        content_type = raw_type.split(";")[0].strip().lower()
        if not content_type.startswith("image/") and content_type not in OCTET_STREAMS:
            raise ImageUnavailable(f"not an image: the content type is {raw_type}")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageUnavailable(f"too large: {int(declared)} bytes, more than the limit of {self.max_bytes}")
        data = self._stream(response, deadline)
        if content_type in OCTET_STREAMS and not looks_like_image(data):
            raise ImageUnavailable(f"not an image: {raw_type or 'no content type'}, and the bytes are no "
                                   "image format this backend reads")
        return data

    def _stream(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
        chunks, size = [], 0
        try:
            while chunk := response.read1(CHUNK):  # what has arrived: the deadline is checked between
                size += len(chunk)
                if size > self.max_bytes:
                    raise ImageUnavailable(f"too large: more than the limit of {self.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise ImageUnavailable(f"took longer than {self.total_timeout:g} s to download")
                chunks.append(chunk)
        except TimeoutError:
            raise ImageUnavailable(f"timed out reading (no data for {self.read_timeout:g} s)") from None
        except (http.client.HTTPException, OSError) as exc:
            raise ImageUnavailable(f"the connection broke while reading: {type(exc).__name__}") from None
        return b"".join(chunks)

    def _authorizer(self, credentials: Credentials | None) -> _Authorizer | None:
        if credentials is None or not credentials.token or not credentials.url:
            return None
        with self._lock:
            if credentials not in self._authorizers:
                self._authorizers[credentials] = _Authorizer(credentials, self.read_timeout)
            return self._authorizers[credentials]

    # data: URIs --------------------------------------------------------------------------------

    def _data_uri(self, url: str) -> bytes:
        header, comma, payload = url[5:].partition(",")
        if not comma:
            raise ImageUnavailable("malformed data: URI (no comma)")
        params = [p.strip().lower() for p in header.split(";")]
        media_type = params[0]
        if not media_type.startswith("image/") and media_type not in OCTET_STREAMS:
            raise ImageUnavailable(f"not an image: the data: URI holds {media_type}")
        if len(payload) * 3 // 4 > self.max_bytes:
            raise ImageUnavailable(f"too large: more than the limit of {self.max_bytes} bytes")
        data = _decode_payload(payload, base64_encoded="base64" in params[1:])
        if len(data) > self.max_bytes:
            raise ImageUnavailable(f"too large: more than the limit of {self.max_bytes} bytes")
        if media_type in OCTET_STREAMS and not looks_like_image(data):
            raise ImageUnavailable("not an image: the data: URI's bytes are no image format this backend reads")
        return data


class _KeyLock:
    """Holds the per-URL lock of an ImageFetcher; drops it from the table when no one waits."""

    def __init__(self, fetcher: ImageFetcher, key: str, entry: list) -> None:
        self.fetcher, self.key, self.entry = fetcher, key, entry

    def __enter__(self) -> None:
        self.entry[0].acquire()

    def __exit__(self, *exc: object) -> None:
        self.entry[0].release()
        with self.fetcher._lock:
            self.entry[1] -= 1
            if self.entry[1] == 0:
                del self.fetcher._inflight[self.key]


class _Authorizer:
    """The Authorization header for one Label Studio and key, from backend.labelstudio's client
    (which exchanges and refreshes personal access tokens); one refresh at a time."""

    def __init__(self, credentials: Credentials, timeout: float) -> None:
        self._client = LabelStudio(credentials.url, credentials.token or "", timeout=timeout, retries=0)
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            try:
                return self._client.authorization()
            except LabelStudioError as exc:
                raise ImageUnavailable(str(exc)) from None

    def expire(self, used: str) -> None:
        """Forget the access token `used` was made of (unless another thread refreshed it already)."""
        with self._lock:
            self._client.expire(used)


# URLs ------------------------------------------------------------------------------------------


def resolve_url(url: str, credentials: Credentials | None, task_id: int | str | None = None) -> str:
    """The absolute http(s) URL to GET for a task's image URL (not a data: URI)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return _requote(url)
    if scheme in CLOUD_SCHEMES:
        if task_id is None:
            raise ImageUnavailable(f"a {scheme}:// URI is read through Label Studio's presign endpoint, "
                                   "which needs the task's id")
        if not str(task_id).isdigit():
            raise ImageUnavailable(f"the task id must be a number; got {str(task_id)[:40]!r}")
        encoded = base64.urlsafe_b64encode(url.encode()).decode()
        return _join(_label_studio(credentials, url), f"/tasks/{task_id}/presign/?fileuri={encoded}")
    if scheme or url.startswith("//"):
        raise ImageUnavailable(f"URL scheme '{scheme or '//'}' not allowed (http, https, data, "
                               f"{', '.join(CLOUD_SCHEMES)} and Label Studio paths are)")
    if url.startswith(("upload/", "/upload/")):  # an upload key, as in exports
        url = "/data/" + url.lstrip("/")
    return _requote(_join(_label_studio(credentials, url), url))


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs have the same scheme, host and port."""
    return _origin(url) == _origin(other)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def _label_studio(credentials: Credentials | None, url: str) -> str:
    if credentials is None or not credentials.url:
        raise ImageUnavailable("the URL is relative to Label Studio, whose address this backend does not know "
                               "(set LABEL_STUDIO_URL, or connect the backend so that /setup sends it)")
    if not credentials.url.startswith(("http://", "https://")):
        raise ImageUnavailable(f"Label Studio's address '{credentials.url}' is not an http(s) URL")
    return credentials.url


def _join(base: str, path: str) -> str:
    """`path` under Label Studio's address, keeping a path prefix (http://host/ls + /data/x)."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def _requote(url: str) -> str:
    """The URL with spaces and non-ASCII characters percent-encoded (http.client refuses them);
    existing escapes and reserved characters are kept."""
    parts = urllib.parse.urlsplit(url)
    safe = "/:@!$&'()*+,;=%~-._"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, urllib.parse.quote(parts.path, safe=safe),
                                    urllib.parse.quote(parts.query, safe=safe + "?"), ""))


def _redirect_target(url: str, location: str | None) -> str:
    if not location:
        raise ImageUnavailable("a redirect without a Location")
    target = urllib.parse.urljoin(url, location)
    scheme = urllib.parse.urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise ImageUnavailable(f"a redirect to a {scheme or 'relative'} URL, not http(s)")
    return _requote(target)


def shorten_url(url: object, limit: int = 160) -> str:
    text = " ".join(str(url).split())
    if text[:5].lower() == "data:":
        return f"{text[:40]}... ({len(text)} characters)" if len(text) > 48 else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _http_problem(error: urllib.error.HTTPError, hops: int, auth: str | None,
                  credentials: Credentials | None, url: str) -> str:
    if error.code in REDIRECTS:
        return f"more than {hops} redirects"
    where = "Label Studio" if credentials and same_origin(url, credentials.url) else _origin(url)
    problem = f"HTTP {error.code} {error.reason} from {where}"
    if error.code == 401 and where == "Label Studio":
        if not auth and credentials.token:
            return problem + " (the redirect came from another host, so no credentials were sent)"
        if not auth:
            return problem + " (no API key: set LABEL_STUDIO_API_KEY)"
        return problem + (" (the key was refused: legacy tokens are disabled by default since Label Studio "
                          "1.17; use a personal access token)" if auth.startswith("Token ") else
                          " (the personal access token was refused)")
    if error.code in (403, 404) and "/data/local-files/" in url:
        return problem + (" (Label Studio serves local files only with LOCAL_FILES_SERVING_ENABLED=true and a "
                          "Local Storage of the project that holds the file's folder)")
    return problem


def _decode_payload(payload: str, base64_encoded: bool) -> bytes:
    if not base64_encoded:
        return urllib.parse.unquote_to_bytes(payload)
    text = "".join(urllib.parse.unquote(payload).split())
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text
                                else None, validate=True)
    except (binascii.Error, ValueError):
        raise ImageUnavailable("the data: URI is not valid base64") from None


def _opener(read_timeout: float) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect (the fetcher does, deciding the credentials of each hop),
    honours the *_proxy environment variables, and gives reads their own timeout."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


class _TimedConnection(http.client.HTTPConnection):
    """Connects within the request's timeout, then waits up to `read_timeout` for each read."""

    def __init__(self, *args: object, read_timeout: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _TimedHTTPSConnection(_TimedConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_TimedConnection, read_timeout=self.read_timeout), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_TimedHTTPSConnection, read_timeout=self.read_timeout), req,
                            context=self._context)


# decoding --------------------------------------------------------------------------------------


def looks_like_image(data: bytes) -> bool:
    """Whether Pillow recognises the bytes as one of SAFE_FORMATS (reads the header only)."""
    try:
        with Image.open(io.BytesIO(data), formats=SAFE_FORMATS):
            return True
    except Image.DecompressionBombError:
        return True  # an image, which decode_image will refuse
    except Exception:  # UnidentifiedImageError, or whatever a broken header makes Pillow raise
        return False


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> Image.Image:
    """The image in `data` as RGB, turned upright as its EXIF orientation says (as browsers show
    it). Refuses more than `max_pixels` pixels before decoding any; Pillow's own check
    (Image.MAX_IMAGE_PIXELS, left as it is) refuses twice its limit even when `max_pixels` is higher."""
    try:
        with Image.open(io.BytesIO(data), formats=SAFE_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageUnavailable(f"decompression bomb: {width}x{height} pixels, more than the limit "
                                       f"of {max_pixels}")
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as exc:
        raise ImageUnavailable(f"decompression bomb: {exc}") from None
    except ImageUnavailable:
        raise
    except UnidentifiedImageError:
        raise ImageUnavailable(f"undecodable: not an image in a format this backend reads "
                               f"({', '.join(SAFE_FORMATS)})") from None
    except Exception as exc:  # a broken file makes Pillow's decoders raise all sorts of errors
        raise ImageUnavailable(f"undecodable: {type(exc).__name__}: {exc}") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit and float greys: scale to 8 bits
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB") if image.mode != "RGB" else image.copy()


# the disk cache --------------------------------------------------------------------------------


class DiskCache:
    """Files in one directory, named by the SHA-256 of their key, capped at `capacity` bytes;
    the least recently used (oldest modification time, touched on every hit) go first."""

    SUFFIX = ".img"

    def __init__(self, directory: Path, capacity: int) -> None:
        self.directory = directory
        self.capacity = capacity
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last_ns = 0
        self._size = sum(size for _, _, size in self._entries())

    def path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest() + self.SUFFIX)

    def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            data = path.read_bytes()
            self._touch(path)
        except OSError:  # absent, or evicted by another thread or process meanwhile
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.capacity:
            return
        try:
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".part-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            path = self.path(key)
            os.replace(temporary, path)
            self._touch(path)
        except OSError as exc:
            log.warning("cannot cache an image in %s: %s", self.directory, exc)
            return
        with self._lock:
            self._size += len(data)
            if self._size > self.capacity:
                self._evict()

    def _touch(self, path: Path) -> None:
        with self._lock:  # strictly increasing times, so that order is exact within a process
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            stamp = self._last_ns
        os.utime(path, ns=(stamp, stamp))

    def _entries(self) -> list[tuple[int, Path, int]]:
        entries = []
        with os.scandir(self.directory) as found:
            for entry in found:
                if entry.name.endswith(self.SUFFIX):
                    try:
                        status = entry.stat()
                    except OSError:
                        continue
                    entries.append((status.st_mtime_ns, Path(entry.path), status.st_size))
        return entries

    def _evict(self) -> None:
        """Drop the least recently used files until the rest fit (the lock is held)."""
        entries = sorted(self._entries())
        total = sum(size for _, _, size in entries)
        for _, path, size in entries:
            if total <= self.capacity:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
        self._size = total
