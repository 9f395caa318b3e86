"""The runbook's nginx site (docs/self-hosting/nginx-site.conf), run for real in front of serve.

Debian's nginx (installed by ``make test``'s set-up) runs in the foreground as an
unprivileged user, from a temporary prefix, on loopback ports; the site file is the
shipped one with only its placeholders filled. A client on 127.0.5.9 votes over TLS
and HTTP/2-capable ALPN; serve, trusting 127.0.0.1/32 (nginx), must record the
client's network — not nginx's, and not the one the client claims in its own
X-Forwarded-For.
"""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import socket
import sqlite3
import ssl
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ballotbox.core.privacy import Hasher

from localserver.headers import HSTS_HEADER, SECURITY_HEADERS
from localserver.secrets import ensure_secrets
from tests.test_serve import JSON, ROOT, Server, free_port
from tests.votekit import Voter

SITE = ROOT / "docs" / "self-hosting" / "nginx-site.conf"
CLIENT = "127.0.5.9"  # another /24 than nginx's 127.0.0.1: the two nets differ
MAIN_CONF = """
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/site.conf;
}}
"""


class Nginx:
    def __init__(self, prefix: Path, https_port: int, http_port: int) -> None:
        self.prefix, self.https_port, self.http_port = prefix, https_port, http_port
        self.proc: subprocess.Popen[bytes] | None = None

    def connection(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
        return http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, timeout=10, context=context, source_address=(CLIENT, 0)
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()


def render_site(prefix: Path, serve_port: int, https_port: int, http_port: int) -> str:
    values = {
        "SERVER_NAME": "localhost",
        "HTTP_PORT": f"127.0.0.1:{http_port}",
        "HTTPS_PORT": f"127.0.0.1:{https_port}",
        "SERVE_PORT": str(serve_port),
        "TLS_CERT": str(prefix / "cert.pem"),
        "TLS_KEY": str(prefix / "key.pem"),
        "CACHE_DIR": str(prefix / "cache"),
    }
    text = SITE.read_text("utf-8")
    for name in values:  # every placeholder the runbook names is in the file
        assert "${" + name + "}" in text, name
    # Like `envsubst` with an explicit list: nginx's own $host etc. stay as they are.
    rendered = string.Template(text).safe_substitute(values)
    assert "${" not in rendered
    return rendered


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Server, Nginx]]:
    serve = Server(tmp_path).start(options=("--trusted-proxy", "127.0.0.1/32"))
    prefix = Path(tempfile.mkdtemp(prefix="topn-nginx-"))  # under /tmp: reachable by nobody
    nginx = Nginx(prefix, free_port(), free_port())
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(prefix / "key.pem"),
         "-out", str(prefix / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (prefix / "site.conf").write_text(
        render_site(prefix, serve.port, nginx.https_port, nginx.http_port), "utf-8"
    )
    (prefix / "nginx.conf").write_text(MAIN_CONF.format(prefix=prefix), "utf-8")
    cmd = [
        "nginx",
        "-p",
        str(prefix),
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(prefix / "error.log"),
    ]
    if os.geteuid() == 0:
        # Never as root: the same unprivileged user a distribution's workers run as.
        nobody = pwd.getpwnam("nobody")
        for path in [prefix, *prefix.iterdir()]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        cmd = [
            "setpriv",
            f"--reuid={nobody.pw_uid}",
            f"--regid={nobody.pw_gid}",
            "--clear-groups",
            *cmd,
        ]
    nginx.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert nginx.proc.poll() is None, nginx.proc.stdout.read() if nginx.proc.stdout else ""
            try:
                socket.create_connection(("127.0.0.1", nginx.https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield serve, nginx
    finally:
        nginx.proc.terminate()
        nginx.proc.wait(10)
        if serve.proc is not None:
            serve.stop()
        shutil.rmtree(prefix, ignore_errors=True)


def recorded_nets(serve: Server) -> list[str]:
    db = sqlite3.connect(serve.data / "votes.sqlite3")
    try:
        return [row[0] for row in db.execute("SELECT net FROM ledger ORDER BY recorded_at")]
    finally:
        db.close()


def assert_one_secure_set(headers: http.client.HTTPMessage) -> None:
    for name, value in {**SECURITY_HEADERS, **HSTS_HEADER}.items():
        assert headers.get_all(name) == [value], name


def test_votes_through_nginx_record_the_clients_network(stack: tuple[Server, Nginx]) -> None:
    serve, nginx = stack
    spoofed = {**JSON, "X-Forwarded-For": "198.51.100.7"}
    plain = nginx.request("POST", "/api/vote", Voter().vote_body(), JSON)
    forged = nginx.request("POST", "/api/vote", Voter().vote_body(), spoofed)
    for status, headers, body in (plain, forged):
        assert status == 200, body
        assert_one_secure_set(headers)
    hasher = Hasher(ensure_secrets(serve.data).hash_key)
    # nginx reports the client (127.0.5.9), serve believes it; the client's claim is not.
    assert recorded_nets(serve) == [hasher.net(CLIENT), hasher.net(CLIENT)]
    assert hasher.net(CLIENT) != hasher.net("127.0.0.1")
    assert hasher.net(CLIENT) != hasher.net("198.51.100.7")


def test_every_answer_through_nginx_has_one_set_of_security_headers(
    stack: tuple[Server, Nginx],
) -> None:
    _, nginx = stack
    page = nginx.request("GET", "/zh/", headers={"Accept-Encoding": "gzip"})
    assert page[0] == 200
    assert page[1]["Content-Encoding"] == "gzip"
    assert_one_secure_set(page[1])
    missing = nginx.request("GET", "/nowhere")
    assert missing[0] == 404
    assert_one_secure_set(missing[1])
    too_big = nginx.request("POST", "/api/vote", b"x" * 20000, JSON)  # nginx's own 413 page
    assert too_big[0] == 413
    assert_one_secure_set(too_big[1])
    status = nginx.request(
        "GET", f"/api/status?voter={Voter().public}", headers={"Accept-Encoding": "gzip"}
    )
    assert status[0] == 200
    assert_one_secure_set(status[1])


def test_assets_are_cached_by_nginx_and_http_redirects(stack: tuple[Server, Nginx]) -> None:
    serve, nginx = stack
    path = "/assets/site.0123abcd.css"
    for _ in range(3):
        status, headers, _ = nginx.request("GET", path, headers={"Accept-Encoding": "gzip"})
        assert status == 200
        assert "immutable" in headers["Cache-Control"]
    served = [line for line in serve.log.read_text().splitlines() if f"GET {path} 200" in line]
    assert len(served) == 1  # the second and third came from nginx's cache
    conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    conn.request("GET", "/zh/")
    moved = conn.getresponse()
    assert moved.status == 301
    assert moved.headers["Location"] == "https://localhost/zh/"
    conn.close()


def test_nginx_offers_http2_over_tls(stack: tuple[Server, Nginx]) -> None:
    _, nginx = stack
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", nginx.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
