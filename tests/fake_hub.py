"""A Hugging Face hub on 127.0.0.1 for download tests: one repository, whose last quarter
arrives only when the test says so (a slow network, for real).

Speaks what huggingface_hub's snapshot_download asks for: the revision and tree APIs, then a
HEAD and a GET per file under /<repo>/resolve/<commit>/<file>. Point HF_ENDPOINT at `url`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
PIECE = 2**20  # what the held quarter is sent in once released, one piece at a time


class FakeHub:
    def __init__(self, repo: str, name: str, size: int):
        self.repo, self.name, self.size = repo, name, size
        self.release = threading.Event()  # set: the held quarter starts to arrive
        self._data = bytes(size)
        self._sha256 = hashlib.sha256(self._data).hexdigest()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def tree(self) -> list:
        return [{"type": "file", "path": self.name, "size": self.size,
                 "oid": hashlib.sha1(self._data).hexdigest(),
                 "lfs": {"oid": self._sha256, "size": self.size, "pointerSize": 134}}]

    def send_file(self, out, head: bool) -> None:
        if head:
            return
        held = self.size * 3 // 4
        out.write(self._data[:held])
        out.flush()
        self.release.wait(120)
        for start in range(held, self.size, PIECE):
            out.write(self._data[start:start + PIECE])
            out.flush()
            self.release.wait(0.1)  # already set: just paced, as a slow network would be


def _handler(hub: FakeHub) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, head: bool) -> None:
            path = self.path.split("?")[0]
            api = f"/api/models/{hub.repo}/"
            if path.startswith(api + "revision/"):
                self._json({"id": hub.repo, "sha": COMMIT, "siblings": [{"rfilename": hub.name}]})
            elif path.startswith(api + "tree/"):
                self._json(hub.tree())
            elif path == f"/{hub.repo}/resolve/{COMMIT}/{hub.name}":
                self.send_response(200)
                for key, value in (("X-Repo-Commit", COMMIT), ("ETag", f'"{hub._sha256}"'),
                                   ("X-Linked-Etag", f'"{hub._sha256}"'),
                                   ("X-Linked-Size", str(hub.size)),
                                   ("Content-Length", str(hub.size))):
                    self.send_header(key, value)
                self.end_headers()
                try:
                    hub.send_file(self.wfile, head)
                except OSError:
                    pass  # the client stopped reading: a cancelled download
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def _json(self, obj) -> None:
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
