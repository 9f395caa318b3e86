"""The build pipeline, top to bottom: load and validate, plan, render, write."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sitegen import assets as asset_mod
from sitegen import results as results_mod
from sitegen import share as share_mod
from sitegen.content import load_content
from sitegen.errors import BuildError
from sitegen.plan import Output, plan_site
from sitegen.qr import qr_svg
from sitegen.render import Renderer, format_date, last_day, load_strings
from sitegen.texts import check_strings, find_uses

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class BuildReport:
    out_dir: Path
    files: int
    pages: int
    candidates: int


def build_site(
    out_dir: Path,
    *,
    receipt_key: str,
    results: Path | None = None,
    root: Path = ROOT,
    content_dir: Path | None = None,
) -> BuildReport:
    """Build the whole site into ``out_dir``, replacing it only once all is rendered."""
    # 1. Load and validate everything; nothing is written if any of it is wrong.
    content = load_content(content_dir or root / "content")
    campaign = content.campaign
    strings_path = root / "templates" / "strings.yaml"
    strings = load_strings(strings_path, campaign.languages)
    check_strings(strings, find_uses(root / "templates", root / "site_src"), strings_path)
    assets = asset_mod.collect(root / "site_src", root)
    # The results pages (or when results will come) and the public export to publish.
    results_page, audit_files = results_mod.prepare(results, content, strings)

    # Share images, the WeChat share card and MP_verify files (issue 16).
    share = share_mod.prepare(
        content,
        strings,
        assets,
        root=root,
        content_dir=content_dir or root / "content",
        window_text=lambda lang: strings["window_sentence"][lang].format(
            opens=format_date(campaign.opens, lang),
            last=format_date(last_day(campaign.closes), lang),
        ),
    )

    # 2. Plan every file of the site.
    plan = plan_site(
        content,
        strings,
        assets,
        receipt_key=receipt_key,
        # Each language's poster shows a code for its own vote page, titled in its language.
        qr_svg={
            lang: qr_svg(f"{campaign.base_url}/{lang}/vote/", title=strings["qr_alt"][lang])
            for lang in campaign.languages
        },
        favicon=asset_mod.favicon_data_uri(),
        results_page=results_page,
        share=share,
        rules_notes={
            lang: results_mod.rules_notes(content, strings, campaign.method, lang)
            for lang in campaign.languages
        },
    )
    outputs = [*plan.outputs, Output(path="favicon.ico", data=asset_mod.favicon_ico())]
    outputs += [Output(path=path, data=data) for path, data in share.files.items()]
    outputs += [Output(path=path, data=data) for path, data in audit_files.items()]

    # 3. Render in memory.
    renderer = Renderer(root / "templates", {"absolute": lambda path: campaign.base_url + path})
    files: dict[str, bytes] = {}
    for out in outputs:
        if out.path in files:
            raise BuildError(f"two outputs would be written to {out.path}")
        if out.data is not None:
            files[out.path] = out.data
        else:
            assert out.template is not None
            files[out.path] = renderer.render(out.template, out.context).encode("utf-8")

    # 4. Write to a fresh directory and swap it in, so a failed build never leaves
    # a half-written dist/ behind for `serve` or `deploy` to pick up.
    _write_atomically(out_dir, files)
    pages = sum(1 for path in files if path.endswith(".html"))
    return BuildReport(out_dir, len(files), pages, len(content.candidates))


def _write_atomically(out_dir: Path, files: dict[str, bytes]) -> None:
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for rel, data in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            staging.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
