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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ballotbox.core.campaign import NORMALISATIONS, TIE_KEYS

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


# The builder's code is read as text, not parsed: keys are plain identifiers, and a
# few regular expressions over ~2,000 lines cost a millisecond where walking the AST
# took a large share of the build's one-second budget.
#: A plain string literal ("device+pow" names the string identity_device_pow).
_CONSTANT = re.compile(r"""(?<![\w{])["']([\w+]+)["']""")
#: A key built from a constant prefix: f"nav_{name}", "identity_" + mode.
_PREFIX = re.compile(r"""\bf["'](\w+)\{|["'](\w+)["']\s*\+""")
#: A key the builder reads directly: strings["key"], s("key").
_READ = re.compile(r"""\bstrings\[\s*["'](\w+)["']\s*\]|\bs\(\s*["'](\w+)["']\s*\)""")


def _python_uses(files: Iterable[Path]) -> tuple[dict[str, str], set[str], set[str]]:
    required: dict[str, str] = {}
    constants: set[str] = set(NORMALISATIONS) | set(TIE_KEYS)
    prefixes: set[str] = set()
    for path in files:
        code = path.read_text(encoding="utf-8")
        for value in _CONSTANT.findall(code):
            constants.update({value, value.replace("+", "_")})
        prefixes.update(a or b for a, b in _PREFIX.findall(code))
        for a, b in _READ.findall(code):
            required.setdefault(a or b, path.name)
    return required, constants, prefixes


def find_uses(templates: Path, scripts: Path, builder: Path = BUILDER) -> Uses:
    required: dict[str, str] = {}
    for path in sorted(templates.glob("*.html")):
        for key in TEMPLATE_USE.findall(path.read_text(encoding="utf-8")):
            required.setdefault(key, f"templates/{path.name}")
    for path in sorted(scripts.rglob("*.js")):
        for name in SCRIPT_USE.findall(path.read_text(encoding="utf-8")):
            required.setdefault(SCRIPT_PREFIX + name, path.name)
    # This checker's own text names examples, not uses.
    code = sorted(p for p in builder.glob("*.py") if p.name != Path(__file__).name)
    py_required, constants, prefixes = _python_uses(code)
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
