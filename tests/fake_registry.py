"""A local Docker registry (HTTP, registry API v2) that serves one tiny image and can rate-limit.

The Docker engine treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so a real
`docker pull 127.0.0.1:PORT/name:tag` reaches it: the pull path is tested end to end with no network.
`rate_limited` manifest requests are answered HTTP 429 with Docker Hub's own error body
("toomanyrequests") before the image is served; names in `unknown` answer MANIFEST_UNKNOWN.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tiny_image(marker: str) -> tuple[bytes, dict[str, bytes]]:
    """(manifest, blobs by digest) of a one-layer image holding /atlas-fake-image."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = marker.encode()
        info = tarfile.TarInfo("atlas-fake-image")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/atlas-fake-image"]},
                         "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": _digest(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                    "digest": _digest(layer)}],
    }).encode()
    return manifest, {_digest(config): config, _digest(layer): layer}


class FakeRegistry:
    def __init__(self, rate_limited: int = 0, unknown: tuple[str, ...] = (), marker: str = "atlas"):
        self.rate_limited = rate_limited  # how many manifest requests get 429 before any is served
        self.unknown = set(unknown)
        self.manifest, self.blobs = _tiny_image(marker)
        self.manifest_requests: list[str] = []
        self.lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, code: int, error: str, message: str) -> None:
                body = json.dumps({"errors": [{"code": error, "message": message}]}).encode()
                self._send(code, body, {"Content-Type": "application/json"})

            def do_GET(self) -> None:
                if self.path == "/v2/":
                    return self._send(200, b"{}", {"Content-Type": "application/json"})
                match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", self.path)
                if not match:
                    return self._error(404, "NAME_UNKNOWN", "no such path")
                name, kind, reference = match.groups()
                if kind == "blobs":
                    blob = registry.blobs.get(reference)
                    if blob is None:
                        return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                    return self._send(200, blob, {"Content-Type": "application/octet-stream",
                                                  "Docker-Content-Digest": reference})
                with registry.lock:
                    registry.manifest_requests.append(name)
                    limited = registry.rate_limited > 0
                    registry.rate_limited -= limited
                if limited:
                    return self._error(429, "TOOMANYREQUESTS", "You have reached your pull rate limit. "
                                       "You may increase the limit by authenticating and upgrading")
                if name in registry.unknown:
                    return self._error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {name}")
                self._send(200, registry.manifest, {"Content-Type": MANIFEST_TYPE,
                                                    "Docker-Content-Digest": _digest(registry.manifest)})

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeRegistry":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
