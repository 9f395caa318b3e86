"""The function's zip: ``functions/`` + ``campaign.json`` + Linux wheels, byte-reproducible.

Reproducible means the same inputs give the same bytes (sorted entries, fixed
timestamps and permissions), so the zip's SHA-256 names it in the artifacts bucket and
an unchanged function is never redeployed. boto3 is not packaged: the Lambda runtime
provides it, and the function only uses long-stable DynamoDB and SSM calls.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.errors import DeployError

ROOT = Path(__file__).resolve().parent.parent
#: Packages the function needs beyond the runtime (their pins come from pyproject.toml).
FUNCTION_PACKAGES = ("pynacl",)
#: Every wheel of the zip, pinned with hashes (pynacl and its cffi and pycparser).
LOCK_FILE = Path(__file__).resolve().with_name("function.lock")
#: The Lambda target's platform: arm64 (see infra/stack.yaml, Architectures).
PLATFORM = "manylinux2014_aarch64"
#: 1980-01-01, the earliest time a zip can hold: no build clock leaks into the bytes.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}

#: ``fetch(cache_dir, python_version) -> wheel files``; injectable so tests need no network.
WheelFetcher = Callable[[Path, str], list[Path]]


def pinned_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """``name==version`` for each function package, as pinned in pyproject.toml."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = {d.split("==")[0].strip().lower(): d.strip() for d in deps}
    return [pins[name] for name in FUNCTION_PACKAGES]


def runtime_python(template: Path) -> str:
    """The Python version of the function's ``Runtime`` (``python3.12`` -> ``3.12``).

    The wheels must match the interpreter Lambda runs, and the template is where that
    is decided: read it there rather than keep a second copy here.
    """
    found = set(
        re.findall(r"^\s*Runtime:\s*python(\d+\.\d+)\s*$", template.read_text("utf-8"), re.M)
    )
    if len(found) != 1:
        raise DeployError(f"{template.name} must name exactly one pythonX.Y Runtime, not {found}")
    version: str = found.pop()
    return version


def locked_requirements(lock: Path = LOCK_FILE) -> list[str]:
    """``name==version`` of every locked wheel (comments and hashes left out)."""
    lines = (line.split("#", 1)[0].strip() for line in lock.read_text("utf-8").splitlines())
    return [line.split()[0] for line in lines if line]


def wheel_cache(cache_dir: Path, python_version: str, lock: Path = LOCK_FILE) -> Path:
    """One folder per lock file and Python version: a new lock never reuses old wheels."""
    digest = hashlib.sha256(lock.read_bytes() + python_version.encode()).hexdigest()[:16]
    return cache_dir / f"py{python_version}-{digest}"


def pip_download(lock: Path = LOCK_FILE) -> WheelFetcher:
    """A fetcher that asks pip for the locked wheels of the target arch, hashes checked.

    ``fetch(dest, python_version)``: ``dest`` is the cache root; the wheels land in the
    folder ``wheel_cache`` names, where a later run finds them without the network.
    """

    def fetch(dest: Path, python_version: str) -> list[Path]:
        folder = wheel_cache(dest, python_version, lock)
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--require-hashes", "--only-binary=:all:", "--platform", PLATFORM,
            "--python-version", python_version, "--implementation", "cp",
            "--dest", str(folder), "-r", str(lock),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DeployError(
                f"pip could not download the locked Linux wheels ({lock.name}) for "
                f"Python {python_version}:\n{done.stderr.strip()}"
            )
        return sorted(folder.glob("*.whl"))

    return fetch


@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str

    @property
    def key(self) -> str:
        """The artifacts-bucket key: content-addressed, so new code means a new key."""
        return f"functions/vote-{self.sha256[:20]}.zip"


def _function_files(functions_dir: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(functions_dir.rglob("*")):
        relative = path.relative_to(functions_dir)
        if path.is_dir() or SKIPPED_PARTS & set(relative.parts):
            continue
        if path.suffix in SKIPPED_SUFFIXES or relative.name == "campaign.json":
            continue
        yield relative.as_posix(), path.read_bytes()


def _wheel_files(wheels: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    for wheel in sorted(wheels):
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, archive.read(info)


def build_zip(
    out: Path, *, functions_dir: Path, campaign_json: Path, wheels: list[Path]
) -> Package:
    """Write the function zip to ``out``: the same inputs always give the same bytes."""
    entries: dict[str, bytes] = {}
    sources = [
        _function_files(functions_dir),
        iter([("campaign.json", campaign_json.read_bytes())]),
        _wheel_files(wheels),
    ]
    for source in sources:
        for name, data in source:
            if name in entries and entries[name] != data:
                raise DeployError(f"two different files would be {name} in the function zip")
            entries[name] = data
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode bits below are honoured
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, entries[name], compresslevel=9)
    return Package(out, hashlib.sha256(out.read_bytes()).hexdigest())
