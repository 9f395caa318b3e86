"""Upload ``dist/`` to the site bucket: only changed files, with the right headers.

A file is unchanged when the bucket's ETag equals its MD5 (single-part uploads with
SSE-S3, which is what we make), so one listing decides the whole diff without a HEAD per
object. Headers follow the file: fingerprinted assets (``app.3f2a9c1d.js``) never change
under their name and are cached for a year; pages and ``campaign.json`` for a minute, so
a content fix reaches voters quickly. Nothing is deleted: a phone holding an old page
may still ask for the assets it names.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=60, must-revalidate"
#: Pages revalidate on every view (issue 16): WeChat's X5/XWeb browser otherwise keeps
#: serving a stale page for long after a redeploy. A revalidation is a 304 of a few bytes.
HTML_CACHE = "no-cache"
#: ``name.<8+ hex digits>.ext``: the builder's content hash in the file name.
FINGERPRINT = re.compile(r"\.[0-9a-f]{8,}\.[A-Za-z0-9]+$")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
#: Past this many changed paths, one wildcard invalidation is cheaper than a list.
MAX_INVALIDATION_PATHS = 15


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def cache_control(name: str) -> str:
    if FINGERPRINT.search(Path(name).name):
        return LONG_CACHE
    # An index alias ("zh/") is a page too.
    return HTML_CACHE if name.endswith(("/", ".html")) or not name else SHORT_CACHE


@dataclass(frozen=True)
class LocalFile:
    key: str  # the S3 key, also the URL path without its leading slash
    path: Path
    md5: str
    size: int

    @property
    def content_type(self) -> str:
        # An index alias ("zh/") is the page it copies.
        return content_type("index.html" if self.key.endswith("/") else self.key)

    @property
    def cache_control(self) -> str:
        return cache_control(self.key)


@dataclass(frozen=True)
class Change:
    action: Literal["add", "update"]
    file: LocalFile


def local_files(dist: Path) -> list[LocalFile]:
    """Every file of ``dist/`` plus, for each ``dir/index.html``, an alias ``dir/``.

    S3 behind origin access control has no index documents; the alias serves
    ``/zh/`` (see infra/stack.yaml, Metadata.Decisions.DirectoryIndexes).
    """
    found: list[LocalFile] = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        key = path.relative_to(dist).as_posix()
        data = path.read_bytes()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        found.append(LocalFile(key, path, md5, len(data)))
        if key.endswith("/index.html"):
            found.append(LocalFile(key[: -len("index.html")], path, md5, len(data)))
    return found


def remote_etags(s3: Any, bucket: str) -> dict[str, str]:
    """Key -> ETag (without quotes) for every object in the bucket, one listing."""
    etags: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"].strip('"')
    return etags


def plan(
    files: Iterable[LocalFile], remote: dict[str, str], *, force: bool = False
) -> list[Change]:
    changes: list[Change] = []
    for file in files:
        if file.key not in remote:
            changes.append(Change("add", file))
        elif force or remote[file.key] != file.md5:
            changes.append(Change("update", file))
    return changes


def upload(
    s3: Any,
    bucket: str,
    changes: list[Change],
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Put each changed file with its Content-Type and Cache-Control."""
    for change in changes:
        file = change.file
        s3.put_object(
            Bucket=bucket,
            Key=file.key,
            Body=file.path.read_bytes(),
            ContentType=file.content_type,
            CacheControl=file.cache_control,
        )
        if progress is not None:
            progress(file.size)


def invalidation_paths(changes: list[Change]) -> list[str]:
    """URL paths CloudFront must forget: changed *updated* files that are not fingerprinted.

    New files were never cached and fingerprinted names never change content.
    """
    paths = sorted(
        "/" + c.file.key
        for c in changes
        if c.action == "update" and c.file.cache_control != LONG_CACHE
    )
    if any(p == "/index.html" for p in paths):
        paths.insert(0, "/")
    if len(paths) > MAX_INVALIDATION_PATHS:
        return ["/*"]
    return paths
