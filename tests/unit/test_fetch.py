"""backend.fetch against real HTTP servers on 127.0.0.1: a stand-in for Label Studio 1.23 and a
foreign web host (a cloud storage's presigned URLs, or any other site).

The Label Studio stand-in follows label_studio 1.23.2: /data/upload/<path> and
/data/local-files/?d=<path> serve files to an authenticated user and answer 401 without
credentials; /tasks/<id>/presign/?fileuri=<urlsafe base64> answers 303 to a presigned URL;
POST /api/token/refresh/ {"refresh": <personal access token>} answers {"access": <jwt>}.
"""

from __future__ import annotations

import base64
import io
import json
import mimetypes
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from backend.fetch import Credentials, ImageFetcher, ImageUnavailable, decode_image
from PIL import Image

LEGACY = "legacy-token-0123456789"
PAT = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"


def png(color: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (the IHDR chunk rewritten, CRC fixed)."""
    data = bytearray(png(size=(1, 1)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


RED, GREEN, BLUE = png((255, 0, 0)), png((0, 255, 0)), png((0, 0, 255))


class Server:
    """A threaded HTTP server that records each request's path and Authorization header and
    answers with `route(handler, server)`."""

    def __init__(self, route: Callable[[BaseHTTPRequestHandler, Server], None]) -> None:
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self.state: LabelStudioState | None = None  # Label Studio's files, tokens and counters
        self.redirect_to_ls = ""  # where the foreign host's /to-label-studio points
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, self.headers.get("Authorization")))
                route(self, server)

            def do_POST(self) -> None:
                server.requests.append(("POST", self.path, self.headers.get("Authorization")))
                route(self, server)

        class Quiet(ThreadingHTTPServer):
            request_queue_size = 64  # a backlog of 5 drops concurrent connections (a 1 s SYN retry)

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the client hung up on purpose (timeouts, limits)

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def gets(self, prefix: str = "/") -> list[tuple[str, str | None]]:
        return [(path, auth) for method, path, auth in self.requests if method == "GET" and path.startswith(prefix)]


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", content_type: str | None = None,
         headers: dict[str, str] | None = None, length: bool = True) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    send(handler, status, json.dumps(body).encode(), "application/json")


class LabelStudioState:
    def __init__(self, web: Server) -> None:
        self.web = web
        self.files: dict[str, bytes] = {"upload/3/red.png": RED, "upload/3/green.png": GREEN,
                                        "upload/3/blue.png": BLUE, "local/images/cat 1.png": GREEN}
        self.cloud = {"s3://bucket/photos/cat.png": "/bucket/photos/cat.png?X-Amz-Signature=secret"}
        self.access_uses = 10**6  # requests an access token is good for, then 401 (it expired)
        self.access: dict[str, int] = {}
        self.refreshes = 0
        self.gets = 0
        self.expire_all_at: int | None = None  # on this GET, every access token issued so far expires
        self.lock = threading.Lock()

    def authorized(self, header: str | None) -> bool:
        scheme, _, key = (header or "").partition(" ")
        if scheme == "Token":
            return key == LEGACY
        if scheme == "Bearer" and self.access.get(key, 0) > 0:
            self.access[key] -= 1
            return True
        return False

    def route(self, handler: BaseHTTPRequestHandler, server: Server) -> None:
        url = urllib.parse.urlsplit(handler.path)
        path = url.path.removeprefix("/ls")  # Label Studio may be served under a path prefix
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if handler.command == "POST" and path == "/api/token/refresh/":
            body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
            if body.get("refresh") != PAT:
                return send_json(handler, 401, {"detail": "Token is invalid or expired", "code": "token_not_valid"})
            self.refreshes += 1
            access = f"access-{self.refreshes}"
            self.access[access] = self.access_uses
            return send_json(handler, 200, {"access": access})
        with self.lock:
            self.gets += 1
            if self.gets == self.expire_all_at:
                self.access.clear()
            authorized = self.authorized(handler.headers.get("Authorization"))
        if not authorized:
            return send_json(handler, 401, {"detail": "Authentication credentials were not provided."})
        if path.startswith("/data/upload/"):
            return self.serve(handler, "upload/" + path.removeprefix("/data/upload/"))
        if path == "/data/local-files/":
            return self.serve(handler, "local/" + query.get("d", ""))
        if path.startswith("/tasks/") and path.endswith("/presign/"):
            uri = base64.urlsafe_b64decode(query["fileuri"]).decode()
            if uri not in self.cloud:
                return send(handler, 404)
            return send(handler, 303, headers={"Location": self.web.url + self.cloud[uri]})
        return send_json(handler, 404, {"detail": "Not found."})

    def serve(self, handler: BaseHTTPRequestHandler, key: str) -> None:
        if key not in self.files:
            return send(handler, 404)
        send(handler, 200, self.files[key], mimetypes.guess_type(key)[0] or "application/octet-stream")


def web_route(handler: BaseHTTPRequestHandler, server: Server) -> None:
    """The foreign host: images, and every way a download can go wrong."""
    path = urllib.parse.urlsplit(handler.path).path
    simple = {
        "/red.png": (RED, "image/png"), "/bucket/photos/cat.png": (BLUE, "image/png"),
        "/page.html": (RED, "text/html; charset=utf-8"), "/octet.bin": (GREEN, "application/octet-stream"),
        "/junk.bin": (b"<html>login</html>", "application/octet-stream"), "/untyped": (RED, None),
        "/junk.png": (b"this is not a png at all", "image/png"), "/truncated.png": (RED[: len(RED) // 2], "image/png"),
        "/bomb.png": (bomb(8000, 8000), "image/png"), "/huge-bomb.png": (bomb(100_000, 100_000), "image/png"),
    }
    if path in simple:
        body, content_type = simple[path]
        return send(handler, 200, body, content_type)
    if path.startswith("/blob/"):  # /blob/<n>/<char>: n bytes, served as an image
        size, char = path.split("/")[2:4]
        return send(handler, 200, char.encode() * int(size), "image/png")
    if path == "/slow.png":
        time.sleep(0.3)
        return send(handler, 200, RED, "image/png")
    if path == "/stall.png":
        time.sleep(3.0)
        return send(handler, 200, RED, "image/png")
    if path == "/drip.png":
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.end_headers()
        for _ in range(60):  # 3 s
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)
        return None
    if path == "/huge-declared.png":
        return send(handler, 200, b"x" * 10, "image/png", headers={"Content-Length": str(10**9)}, length=False)
    if path == "/huge-undeclared.png":
        return send(handler, 200, b"x" * 300_000, "image/png", length=False)
    redirects = {"/redirect": "/red.png", "/loop": "/loop", "/to-file": "file:///etc/passwd",
                 "/to-ftp": "ftp://127.0.0.1/x.png", "/to-label-studio": server.redirect_to_ls}
    if path in redirects:
        return send(handler, 302, headers={"Location": redirects[path]})
    return send(handler, 404, b"not found", "text/plain")


@pytest.fixture
def web() -> Iterator[Server]:
    server = Server(web_route)
    yield server
    server.close()


@pytest.fixture
def ls(web: Server) -> Iterator[Server]:
    state = LabelStudioState(web)
    server = Server(state.route)
    server.state = state
    web.redirect_to_ls = server.url + "/data/upload/3/red.png"
    yield server
    server.close()


@pytest.fixture
def fetcher() -> ImageFetcher:
    return ImageFetcher(None, max_bytes=200_000, connect_timeout=1.0, read_timeout=0.3, total_timeout=0.6)


def unavailable(call: Callable[[], Any], *needles: str) -> str:
    with pytest.raises(ImageUnavailable) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


# Label Studio's files and credentials ----------------------------------------------------------


def test_legacy_token_reads_uploads_and_local_files(ls: Server, fetcher: ImageFetcher) -> None:
    credentials = Credentials(ls.url, LEGACY)
    assert fetcher.fetch("/data/upload/3/red.png", credentials) == RED
    assert fetcher.fetch("upload/3/blue.png", credentials) == BLUE  # an upload key, as exports hold
    assert fetcher.fetch("/data/local-files/?d=images/cat 1.png", credentials) == GREEN
    assert fetcher.fetch(ls.url + "/data/upload/3/green.png", credentials) == GREEN  # absolute, same origin
    assert {auth for _, auth in ls.gets()} == {f"Token {LEGACY}"}


def test_a_path_prefix_in_label_studios_address_is_kept(ls: Server, fetcher: ImageFetcher) -> None:
    assert fetcher.fetch("/data/upload/3/red.png", Credentials(ls.url + "/ls/", LEGACY)) == RED
    assert ls.gets()[0][0] == "/ls/data/upload/3/red.png"


def test_without_or_with_a_wrong_key_label_studio_answers_401(ls: Server, fetcher: ImageFetcher) -> None:
    unavailable(lambda: fetcher.fetch("/data/upload/3/red.png", Credentials(ls.url)), "401", "LABEL_STUDIO_API_KEY")
    unavailable(lambda: fetcher.fetch("/data/upload/3/red.png", Credentials(ls.url, "wrong")), "401", "refused")
    unavailable(lambda: fetcher.fetch("/data/upload/3/none.png", Credentials(ls.url, LEGACY)), "404")
    unavailable(lambda: fetcher.fetch("/data/local-files/?d=x.png", Credentials(ls.url, LEGACY)), "404",
                "LOCAL_FILES_SERVING_ENABLED")


def test_personal_access_token_is_exchanged_and_refreshed_after_401(ls: Server, fetcher: ImageFetcher) -> None:
    ls.state.access_uses = 2
    credentials = Credentials(ls.url, PAT)
    for name, body in (("red", RED), ("green", GREEN), ("blue", BLUE)):
        assert fetcher.fetch(f"/data/upload/3/{name}.png", credentials) == body
    assert ls.state.refreshes == 2
    assert [auth for _, auth in ls.gets()] == ["Bearer access-1", "Bearer access-1", "Bearer access-1",
                                               "Bearer access-2"]  # the third: 401, refreshed, again


def test_a_refused_personal_access_token_is_reported(ls: Server, fetcher: ImageFetcher) -> None:
    bad = PAT.replace("c2ln", "eHh4")
    unavailable(lambda: fetcher.fetch("/data/upload/3/red.png", Credentials(ls.url, bad)), "personal access token")
    assert ls.gets() == []


def test_credentials_for_a_project(ls: Server) -> None:
    fetcher = ImageFetcher(credentials_for=lambda project: Credentials(ls.url, LEGACY) if project == "3" else None)
    assert fetcher.fetch("/data/upload/3/red.png", project="3") == RED
    unavailable(lambda: fetcher.fetch("/data/upload/3/red.png", project="4"), "address")


# other hosts and cloud storage -----------------------------------------------------------------


def test_credentials_never_go_to_another_host(ls: Server, web: Server, fetcher: ImageFetcher) -> None:
    credentials = Credentials(ls.url, LEGACY)
    assert fetcher.fetch(web.url + "/red.png", credentials) == RED
    assert fetcher.fetch(web.url + "/redirect", credentials) == RED
    assert web.gets() == [("/red.png", None), ("/redirect", None), ("/red.png", None)]
    # localhost is another origin than 127.0.0.1, even on the same port
    other = ls.url.replace("127.0.0.1", "localhost")
    unavailable(lambda: fetcher.fetch(other + "/data/upload/3/red.png", credentials), "401")


def test_cloud_uris_go_through_the_presign_endpoint(ls: Server, web: Server, fetcher: ImageFetcher) -> None:
    data = fetcher.fetch("s3://bucket/photos/cat.png", Credentials(ls.url, LEGACY), task_id=7)
    assert data == BLUE
    [(path, auth)] = ls.gets()
    assert path.startswith("/tasks/7/presign/?fileuri=") and auth == f"Token {LEGACY}"
    encoded = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["fileuri"][0]
    assert base64.urlsafe_b64decode(encoded).decode() == "s3://bucket/photos/cat.png"
    assert web.gets() == [("/bucket/photos/cat.png?X-Amz-Signature=secret", None)]  # no credentials to storage
    unavailable(lambda: fetcher.fetch("gs://bucket/x.png", Credentials(ls.url, LEGACY)), "task's id")
    unavailable(lambda: fetcher.fetch("gs://bucket/x.png", Credentials(ls.url, LEGACY), task_id=7), "404")
    unavailable(lambda: fetcher.fetch("gs://bucket/x.png", Credentials(ls.url, LEGACY), task_id="7/../x"), "number")


def test_no_credentials_after_a_redirect_from_another_host(ls: Server, web: Server, fetcher: ImageFetcher) -> None:
    unavailable(lambda: fetcher.fetch(web.url + "/to-label-studio", Credentials(ls.url, LEGACY)), "401",
                "another host")
    assert ls.gets() == [("/data/upload/3/red.png", None)]


def test_redirects_only_to_http(web: Server, fetcher: ImageFetcher) -> None:
    unavailable(lambda: fetcher.fetch(web.url + "/to-file"), "file URL")
    unavailable(lambda: fetcher.fetch(web.url + "/to-ftp"), "ftp URL")
    unavailable(lambda: fetcher.fetch(web.url + "/loop"), "more than 5 redirects")


def test_urls_that_are_refused_before_any_request(fetcher: ImageFetcher) -> None:
    for url in ("file:///etc/passwd", "ftp://example.org/x.png", "javascript:alert(1)", "//example.org/x.png"):
        unavailable(lambda url=url: fetcher.fetch(url), "scheme")
    unavailable(lambda: fetcher.fetch("/data/upload/3/red.png"), "LABEL_STUDIO_URL")
    unavailable(lambda: fetcher.fetch(""), "no image URL")


# limits and bad answers ------------------------------------------------------------------------


def test_timeouts(web: Server, fetcher: ImageFetcher) -> None:
    for path, message in (("/stall.png", "timed out waiting"), ("/drip.png", "longer than 0.6 s")):
        started = time.monotonic()
        unavailable(lambda path=path: fetcher.fetch(web.url + path), message)
        assert time.monotonic() - started < 2.0  # the server would take 3 s
    closed = Server(web_route)
    closed.close()
    unavailable(lambda: fetcher.fetch(closed.url + "/red.png"), "cannot connect")


def test_too_large(web: Server, fetcher: ImageFetcher) -> None:
    unavailable(lambda: fetcher.fetch(web.url + "/huge-declared.png"), "too large", "1000000000 bytes")
    unavailable(lambda: fetcher.fetch(web.url + "/huge-undeclared.png"), "too large", "200000")
    assert len(fetcher.fetch(web.url + "/blob/200000/x")) == 200_000  # the limit itself is fine


def test_content_types(web: Server, fetcher: ImageFetcher) -> None:
    unavailable(lambda: fetcher.fetch(web.url + "/page.html"), "not an image", "text/html")
    assert fetcher.fetch(web.url + "/octet.bin") == GREEN  # octet-stream that is an image
    assert fetcher.fetch(web.url + "/untyped") == RED
    unavailable(lambda: fetcher.fetch(web.url + "/junk.bin"), "not an image")
    unavailable(lambda: fetcher.fetch(web.url + "/nothing.png"), "HTTP 404")


def test_decoding(web: Server, fetcher: ImageFetcher) -> None:
    image = fetcher.load_image(web.url + "/red.png")
    assert (image.mode, image.size, image.getpixel((0, 0))) == ("RGB", (8, 6), (255, 0, 0))
    limit = Image.MAX_IMAGE_PIXELS
    unavailable(lambda: fetcher.load_image(web.url + "/bomb.png"), "decompression bomb", "8000x8000")
    unavailable(lambda: fetcher.load_image(web.url + "/huge-bomb.png"), "decompression bomb")
    assert Image.MAX_IMAGE_PIXELS == limit  # the global is left alone
    unavailable(lambda: fetcher.load_image(web.url + "/junk.png"), "undecodable")
    unavailable(lambda: fetcher.load_image(web.url + "/truncated.png"), "undecodable")


def test_decoding_applies_exif_orientation_and_flattens_modes() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (0, 0, 255)).save(buffer, "JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).size == (20, 40)
    for mode, size in (("RGBA", (3, 3)), ("L", (3, 3)), ("I;16", (3, 3)), ("P", (3, 3)), ("1", (3, 3))):
        buffer = io.BytesIO()
        Image.new(mode, size).save(buffer, "PNG")
        assert decode_image(buffer.getvalue()).mode == "RGB"
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, "PDF")  # Pillow writes PDF, but it is no image format to read
    with pytest.raises(ImageUnavailable, match="undecodable"):
        decode_image(buffer.getvalue())


def test_data_uris(fetcher: ImageFetcher) -> None:
    encoded = base64.b64encode(RED).decode()
    assert fetcher.fetch(f"data:image/png;base64,{encoded}") == RED
    wrapped = "\n".join(encoded[i: i + 20] for i in range(0, len(encoded), 20))
    assert fetcher.fetch(f"data:image/png;base64,{wrapped}") == RED
    assert fetcher.fetch(f"data:image/png;base64,{base64.urlsafe_b64encode(RED).decode().rstrip('=')}") == RED
    assert fetcher.fetch("data:image/png," + urllib.parse.quote_from_bytes(RED)) == RED
    assert fetcher.fetch(f"data:application/octet-stream;base64,{encoded}") == RED
    assert fetcher.load_image(f"data:image/png;base64,{encoded}").getpixel((1, 1)) == (255, 0, 0)
    unavailable(lambda: fetcher.fetch("data:text/plain,hello"), "not an image", "text/plain")
    unavailable(lambda: fetcher.fetch("data:image/png;base64,@@@@"), "base64")
    unavailable(lambda: fetcher.fetch("data:image/png;base64"), "malformed")
    big = base64.b64encode(b"x" * 300_000).decode()
    message = unavailable(lambda: fetcher.fetch(f"data:image/png;base64,{big}"), "too large")
    assert len(message) < 300  # the URI is shortened in the message


# the disk cache and threads --------------------------------------------------------------------


def test_the_cache_answers_without_the_network(web: Server, tmp_path: Any) -> None:
    fetcher = ImageFetcher(tmp_path / "cache")
    assert fetcher.fetch(web.url + "/red.png") == RED
    assert fetcher.fetch(web.url + "/red.png") == RED
    assert len(web.gets()) == 1
    assert ImageFetcher(tmp_path / "cache").fetch(web.url + "/red.png") == RED  # another process, later
    assert len(web.gets()) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".img")] == []


def test_the_cache_evicts_the_least_recently_used(web: Server, tmp_path: Any) -> None:
    fetcher = ImageFetcher(tmp_path, cache_bytes=2500)
    a, b, c = (f"{web.url}/blob/1000/{char}" for char in "abc")
    fetcher.fetch(a)
    fetcher.fetch(b)
    fetcher.fetch(a)  # a is now more recent than b
    fetcher.fetch(c)  # 3000 bytes > 2500: b goes
    assert len(web.gets()) == 3
    assert fetcher.fetch(a) == b"a" * 1000 and fetcher.fetch(c) == b"c" * 1000
    assert len(web.gets()) == 3
    assert fetcher.fetch(b) == b"b" * 1000
    assert [path for path, _ in web.gets()][-1] == "/blob/1000/b"
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 2500
    fetcher.fetch(f"{web.url}/blob/3000/d")  # larger than the whole cache: returned, not kept
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 2500


def test_concurrent_fetches(ls: Server, web: Server, tmp_path: Any) -> None:
    fetcher = ImageFetcher(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(lambda _: fetcher.fetch(web.url + "/slow.png"), range(8)))
        urls = [f"{web.url}/blob/{100 + i}/z" for i in range(16)]
        distinct = list(pool.map(fetcher.fetch, urls))
    assert same == [RED] * 8 and len(web.gets("/slow.png")) == 1  # one download, the others waited for it
    assert distinct == [b"z" * (100 + i) for i in range(16)]
    # Threads share one access token; when it expires, the first thread refused refreshes it and
    # the others use the new one.
    ls.state.expire_all_at = 6
    credentials = Credentials(ls.url, PAT)
    with ThreadPoolExecutor(8) as pool:
        uploads = list(pool.map(lambda i: fetcher.fetch(f"/data/upload/3/red.png?v={i}", credentials), range(24)))
    assert uploads == [RED] * 24
    assert ls.state.refreshes == 2
    assert fetcher._inflight == {}
