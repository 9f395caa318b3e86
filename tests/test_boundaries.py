"""The layout's promises, as tests: who may import whom, and what the core may touch.

Read from the source (the AST of every module), not by importing it, so a lazy import
inside a function counts as much as one at the top, and a rule is checked even for a
module no other test loads. The rules are stated in functions/ballotbox/core/README.md
and README.md's layout section.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from ballotbox import http
from ballotbox.core import errors
from ballotbox.core.errors import MalformedRequest, Unavailable, VoteError

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
CORE = FUNCTIONS / "ballotbox" / "core"

#: Modules that reach the outside world: the core receives what they would give it.
IO_MODULES = frozenset(
    {
        "asyncio",
        "boto3",
        "botocore",
        "http",
        "io",
        "os",
        "pathlib",
        "requests",
        "shutil",
        "socket",
        "sqlite3",
        "subprocess",
        "sys",
        "tempfile",
        "time",
        "urllib",
    }
)
#: Calls that read the clock or the machine: ``name.attr`` pairs.
IO_CALLS = frozenset(
    {
        ("datetime", "now"),
        ("datetime", "utcnow"),
        ("datetime", "today"),
        ("date", "today"),
        ("time", "time"),
        ("time", "monotonic"),
        ("os", "environ"),
        ("os", "getenv"),
        ("os", "urandom"),
    }
)


def modules(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Every module name ``path`` imports (top level of the dotted name), with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def offending_imports(folder: Path, forbidden: frozenset[str], root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {name}"
        for path in modules(folder)
        for line, name in imported(path)
        if name.split(".")[0] in forbidden
    ]


def test_the_function_package_imports_no_builder_ops_or_server_code() -> None:
    assert offending_imports(FUNCTIONS, frozenset({"sitegen", "opstools", "localserver"})) == []


def test_ops_tools_and_the_builder_do_not_import_each_other() -> None:
    assert offending_imports(ROOT / "opstools", frozenset({"sitegen"})) == []
    assert offending_imports(ROOT / "sitegen", frozenset({"opstools"})) == []


def test_the_core_depends_on_nothing_outside_itself_in_the_package() -> None:
    """Stores, the HTTP layer and the WeChat client depend on the core, never the reverse."""
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in modules(CORE)
        for line, name in imported(path)
        if name.startswith("ballotbox") and not name.startswith("ballotbox.core")
    ]
    assert outside == []


def test_the_core_imports_no_io_module() -> None:
    assert offending_imports(CORE, IO_MODULES) == []


def test_the_core_reads_no_clock_environment_or_file() -> None:
    found = []
    for path in modules(CORE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in IO_CALLS
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"open", "input", "print"}
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}()")
    assert found == []


def test_the_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checks above would pass vacuously if the walk found nothing: prove it finds."""
    (tmp_path / "bad.py").write_text(
        "def f():\n    import os.path\n    from sitegen.content import load_content\n"
    )
    assert offending_imports(tmp_path, frozenset({"os", "sitegen"}), tmp_path) == [
        "bad.py:2 imports os.path",
        "bad.py:3 imports sitegen.content",
    ]


def _all_refusals() -> list[type[VoteError]]:
    out: list[type[VoteError]] = []
    todo = [VoteError]
    while todo:
        cls = todo.pop()
        out.extend(cls.__subclasses__())
        todo.extend(cls.__subclasses__())
    return [cls for cls in out if cls.__module__ == errors.__name__]


@pytest.mark.parametrize("cls", _all_refusals(), ids=lambda c: c.__name__)
def test_every_refusal_has_a_status_and_only_unavailable_is_503(cls: type[VoteError]) -> None:
    status = http.status_of(cls())
    assert 400 <= status < 500 or (status == 503 and issubclass(cls, Unavailable))


def test_a_new_subclass_answers_its_parents_status_not_503() -> None:
    class EmptyBody(MalformedRequest):
        code = "malformed_request"

    response = http.error_response(EmptyBody("no body"), "vote")
    assert response.status == 400


def test_every_ops_command_returns_only_the_documented_exit_codes() -> None:
    """ops.py's convention (its docstring): ``run`` returns 0 or 1; 2 is argparse's."""
    found = {}
    for path in modules(ROOT / "opstools"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "run":
                codes = {
                    ret.value.value
                    for ret in ast.walk(node)
                    if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Constant)
                }
                found[path.relative_to(ROOT).as_posix()] = codes
    assert "opstools/verify.py" in found
    assert {name: codes - {0, 1} for name, codes in found.items() if codes - {0, 1}} == {}
