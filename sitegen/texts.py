"""Every interface string is used, and every string used exists: checked on each build.

An unused string is a translation nobody reads but everyone keeps editing; a missing
one breaks a page, or (for the vote page's script) shows a raw ``undefined`` to a
voter. Uses are found without rendering, so strings that only some campaigns show
(another identity mode, the published results) still count:

* templates: ``t.key`` and ``strings.key``;
* the vote page's script: ``S.key`` for the ``vjs_key`` strings it is given;
* the builder (``sitegen/*.py``): any string constant equal to a key, and keys built
  from a constant prefix and a constant suffix, such as ``f"nav_{name}"`` with
  ``"home"`` or ``f"tie_{key}"`` with a tie-break key of ``opstools.scoring``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from opstools.scoring import NORMALISATIONS, TIE_KEYS
from sitegen.errors import BuildError

TEMPLATE_USE = re.compile(r"\b(?:t|strings)\.(\w+)")
SCRIPT_USE = re.compile(r"\bS\.(\w+)")
#: The prefix of the strings handed to the vote page's script (sitegen.plan).
SCRIPT_PREFIX = "vjs_"
#: The builder's own code that reads strings.
BUILDER = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Uses:
    """Where strings are used: keys that must exist, and what makes a key used."""

    required: dict[str, str]  # key -> the file that needs it
    constants: frozenset[str]
    prefixes: frozenset[str]

    def uses(self, key: str) -> bool:
        if key in self.required or key in self.constants:
            return True
        return any(key.startswith(p) and key[len(p) :] in self.constants for p in self.prefixes)


def _python_uses(files: Iterable[Path]) -> tuple[dict[str, str], set[str], set[str]]:
    required: dict[str, str] = {}
    constants: set[str] = set()
    prefixes: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                # "device+pow" names the string identity_device_pow (sitegen.plan).
                constants.update({node.value, node.value.replace("+", "_")})
            elif (
                isinstance(node, ast.JoinedStr)
                and len(node.values) == 2
                and isinstance(node.values[0], ast.Constant)
                and isinstance(node.values[1], ast.FormattedValue)
            ):
                prefixes.add(str(node.values[0].value))
            elif (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Add)
                and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)
            ):
                prefixes.add(node.left.value)
            # strings["key"][lang] and s("key") must exist.
            key = None
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "strings"
                and isinstance(node.slice, ast.Constant)
            ):
                key = node.slice.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "s"
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
            ):
                key = node.args[0].value
            if isinstance(key, str):
                required.setdefault(key, path.name)
    constants.update(NORMALISATIONS)
    constants.update(TIE_KEYS)
    return required, constants, prefixes


def find_uses(templates: Path, scripts: Path, builder: Path = BUILDER) -> Uses:
    required: dict[str, str] = {}
    for path in sorted(templates.glob("*.html")):
        for key in TEMPLATE_USE.findall(path.read_text(encoding="utf-8")):
            required.setdefault(key, f"templates/{path.name}")
    for path in sorted(scripts.rglob("*.js")):
        for name in SCRIPT_USE.findall(path.read_text(encoding="utf-8")):
            required.setdefault(SCRIPT_PREFIX + name, path.name)
    py_required, constants, prefixes = _python_uses(sorted(builder.glob("*.py")))
    for key, where in py_required.items():
        required.setdefault(key, where)
    return Uses(required, frozenset(constants), frozenset(prefixes))


def check_strings(strings: Mapping[str, object], uses: Uses, path: Path) -> None:
    """Fail the build on a string used but not defined, or defined but never used."""
    missing = sorted(
        f"{key} (used in {where})" for key, where in uses.required.items() if key not in strings
    )
    if missing:
        raise BuildError("interface strings used but not defined: " + ", ".join(missing), path)
    unused = sorted(key for key in strings if not uses.uses(key))
    if unused:
        raise BuildError(
            "interface strings defined but never used (remove them): " + ", ".join(unused), path
        )
