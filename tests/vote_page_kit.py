"""Helpers for the vote page's browser tests: a real ``build.py serve`` and page actions.

Everything goes through the page's public surface (roles, accessible names, the
``role="status"`` region) or the server's contracts (``/api/status``, ``ops.py export``),
as the acceptance checks do.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

VOTE_WORD = {"zh": "投票", "en": "Vote"}
CONFIRM = {"zh": "确认投票", "en": "Confirm vote"}
CANNOT_CHANGE = {"zh": "不可更改", "en": "cannot be changed"}
RECORDED = {"zh": "已记录", "en": "was recorded"}
SENDING = {"zh": "正在发送", "en": "Sending"}
LIMIT = {"zh": "北京时间0:00", "en": "00:00 Beijing time"}
VERIFIED = {"zh": "签名有效", "en": "signature valid"}

#: Makes WebCrypto refuse Ed25519 the way a browser without it does, so the page must
#: fall back to the bundled library.
NO_NATIVE_ED25519 = """
(() => {
  const s = crypto.subtle;
  const isEd = (a) => a === 'Ed25519' || (a && a.name === 'Ed25519');
  for (const [name, pos] of [['generateKey', 0], ['importKey', 2], ['sign', 0], ['verify', 0]]) {
    const orig = s[name].bind(s);
    s[name] = (...args) => isEd(args[pos])
      ? Promise.reject(new DOMException('Unrecognized name', 'NotSupportedError'))
      : orig(...args);
  }
})();
"""


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    data: Path
    dist: Path

    def campaign(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.dist / "campaign.json").read_text("utf-8"))
        return result

    def status(self, voter: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/api/status?voter={voter}", timeout=10) as r:
            result: dict[str, Any] = json.load(r)
            return result

    def export(self, out: Path) -> list[dict[str, Any]]:
        """The ledger as ``ops.py export`` writes it."""
        subprocess.run(
            [sys.executable, "ops.py", "export", "--data", str(self.data), "--out", str(out)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=60,
        )
        return [json.loads(line) for line in out.read_text("utf-8").splitlines() if line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(
    cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run a server command until it answers ``/api/health``; SIGTERM it afterwards."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/api/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log.read_text("utf-8", "replace")) from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def vote_server(tmp: Path, now: str) -> Iterator[Server]:
    """``python build.py serve`` on a free port with its own data and output folders."""
    port = free_port()
    data, dist = tmp / "data", tmp / "dist"
    cmd = [sys.executable, "build.py", "serve", "--port", str(port), "--now", now,
           "--data", str(data), "--out", str(dist)]  # fmt: skip
    with running(cmd, port, tmp / "server.log") as url:
        yield Server(url=url, data=data, dist=dist)


def titles(server: Server, lang: str) -> dict[str, str]:
    return {c["id"]: c["title"][lang] for c in server.campaign()["candidates"]}


def vote_button(page: Any, title: str, lang: str) -> Any:
    """The button found as the acceptance checks find it: by its accessible name."""
    pattern = re.escape(VOTE_WORD[lang]) + ".*" + re.escape(title)
    return page.get_by_role("button", name=re.compile(pattern))


def left_today(page: Any, title: str, lang: str) -> int | None:
    """The votes left today that the button's accessible name announces."""
    name = vote_button(page, title, lang).evaluate("b => b.textContent")
    numbers = re.findall(r"\d+", name.replace(title, ""))
    return int(numbers[-1]) if numbers else None


def open_confirmation(page: Any, title: str, lang: str) -> Any:
    """Press the candidate's vote button; return the confirmation dialog, checked."""
    from playwright.sync_api import expect

    button = vote_button(page, title, lang)
    expect(button).to_be_enabled()
    button.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(CANNOT_CHANGE[lang])
    return dialog


def vote(page: Any, title: str, lang: str, *, expect_left: int | None = None) -> str:
    """One full vote through the page; returns what the live region announced."""
    from playwright.sync_api import expect

    open_confirmation(page, title, lang)
    page.get_by_role("button", name=CONFIRM[lang]).click()
    live = page.get_by_role("status")
    expect(live).to_contain_text(RECORDED[lang])
    expect(live).to_contain_text(title)
    if expect_left is not None:
        expect(live).to_contain_text(str(expect_left))
    text: str = live.text_content()
    return text


def device(page: Any) -> dict[str, Any]:
    """The device key record the page keeps in IndexedDB: kind, public key, extractable."""
    result: dict[str, Any] = page.evaluate(
        """() => new Promise((ok, no) => {
            const r = indexedDB.open('vote-' + JSON.parse(
                document.getElementById('vote-config').textContent).campaign);
            r.onerror = () => no(r.error);
            r.onsuccess = () => {
                const g = r.result.transaction('kv').objectStore('kv').get('device');
                g.onerror = () => no(g.error);
                g.onsuccess = () => {
                    const d = g.result;
                    if (!d) return ok(null);
                    let s = '';
                    for (const b of d.pub) s += String.fromCharCode(b);
                    ok({kind: d.kind,
                        voter: btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''),
                        extractable: d.key ? d.key.extractable : null});
                };
            };
        })"""
    )
    return result
