"""Every content mistake stops the build with a message naming the file and line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sitegen.build import build_site
from sitegen.errors import BuildError
from sitegen.render import Text
from tests.conftest import ROOT, TEST_RECEIPT_KEY

MINI = ROOT / "tests" / "fixtures" / "mini"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the mini campaign plus the real templates and assets."""
    root = tmp_path / "project"
    shutil.copytree(MINI / "content", root / "content")
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copytree(ROOT / "site_src", root / "site_src")
    if (ROOT / "node_modules").exists():
        (root / "node_modules").symlink_to(ROOT / "node_modules")
    return root


def build_error(root: Path) -> str:
    # The site a previous build left, which `serve` or `deploy` may be using right now.
    out = root / "dist"
    out.mkdir()
    (out / "index.html").write_text("previous build", encoding="utf-8")
    with pytest.raises(BuildError) as caught:
        build_site(out, receipt_key=TEST_RECEIPT_KEY, root=root)
    assert [p.name for p in out.iterdir()] == ["index.html"], "a failed build must not touch dist/"
    assert (out / "index.html").read_text(encoding="utf-8") == "previous build"
    assert not list(root.glob(".dist-*")), "a failed build must not leave its staging folder"
    return str(caught.value)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_fixture_builds(project: Path) -> None:
    build_site(project / "dist", receipt_key=TEST_RECEIPT_KEY, root=project)
    assert (project / "dist" / "campaign.json").is_file()


def test_missing_translation_names_the_file(project: Path) -> None:
    (project / "content/events/events-2.en.md").unlink()
    message = build_error(project)
    assert "content/events/events-2.zh.md:1:" in message
    assert "no 'en' translation" in message
    assert "events-2.en.md" in message


def test_duplicate_id_names_both_files(project: Path) -> None:
    for lang in ("zh", "en"):
        shutil.copy(
            project / f"content/events/events-1.{lang}.md",
            project / f"content/highlights/events-1.{lang}.md",
        )
    message = build_error(project)
    assert "content/highlights/events-1.zh.md:1:" in message
    assert "duplicate candidate id 'events-1'" in message


def test_unknown_front_matter_key_names_its_line(project: Path) -> None:
    edit(project / "content/highlights/highlights-1.en.md", "order: 1\n", "order: 1\nauthor: x\n")
    message = build_error(project)
    assert "content/highlights/highlights-1.en.md:4:" in message
    assert "unknown front-matter key 'author'" in message


def test_missing_title_is_reported(project: Path) -> None:
    edit(project / "content/events/events-1.zh.md", "title: 候选events1\n", "")
    assert "missing front-matter key 'title'" in build_error(project)


def test_broken_yaml_names_its_line(project: Path) -> None:
    edit(project / "content/events/events-1.en.md", "order: 1", "order: [1")
    message = build_error(project)
    assert "content/events/events-1.en.md:" in message
    assert "invalid YAML" in message


def test_orders_must_agree_between_languages(project: Path) -> None:
    edit(project / "content/events/events-1.en.md", "order: 1", "order: 2")
    message = build_error(project)
    assert "content/events/events-1.en.md:3:" in message
    assert "'order' differs" in message


def test_window_needs_beijing_offset(project: Path) -> None:
    edit(project / "content/campaign.yaml", '"2030-01-03T00:00:00+08:00"', '"2030-01-03T00:00:00Z"')
    message = build_error(project)
    assert "content/campaign.yaml:9:" in message
    assert "+08:00" in message


def test_unknown_campaign_key(project: Path) -> None:
    edit(project / "content/campaign.yaml", "daily_cap: 5", "daily_cap: 5\nmax_votes: 3")
    message = build_error(project)
    assert "content/campaign.yaml:11:" in message
    assert "unknown campaign key 'max_votes'" in message


def test_missing_interface_translation(project: Path) -> None:
    strings = project / "templates/strings.yaml"
    edit(strings, "nav_vote: {zh: 投票, en: Vote}", "nav_vote: {zh: 投票}")
    message = build_error(project)
    assert "templates/strings.yaml:" in message
    assert "'nav_vote' has no 'en' translation" in message


def test_undefined_template_variable(project: Path) -> None:
    edit(project / "templates/rules.html", "{{ vote_path }}", "{{ vote_pth }}")
    message = build_error(project)
    assert "templates/rules.html" in message
    assert "vote_pth" in message


def test_an_unused_interface_string_fails_the_build(project: Path) -> None:
    with (project / "templates/strings.yaml").open("a", encoding="utf-8") as strings:
        strings.write("left_over: {zh: 多余, en: Left over}\n")
    message = build_error(project)
    assert "templates/strings.yaml" in message
    assert "never used" in message
    assert "left_over" in message


@pytest.mark.parametrize(
    ("path", "old", "new", "missing"),
    [
        # A template names a string that does not exist.
        ("templates/rules.html", "{{ t.go_vote }}", "{{ t.go_voting }}", "go_voting"),
        # The vote page's script names one (it would show "undefined" to a voter).
        ("site_src/js/vote.js", "S.none", "S.nothing_yet", "vjs_nothing_yet"),
    ],
)
def test_a_missing_interface_string_fails_the_build(
    project: Path, path: str, old: str, new: str, missing: str
) -> None:
    edit(project / path, old, new)
    message = build_error(project)
    assert "used but not defined" in message
    assert missing in message
    assert path.rsplit("/", 1)[1] in message  # names where it is used


def test_removing_a_used_string_fails_the_build(project: Path) -> None:
    path = project / "templates/strings.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith("vote_for_this:")), "utf-8")
    message = build_error(project)
    assert "vote_for_this (used in templates/candidate.html)" in message


def test_plural_forms_follow_the_number() -> None:
    text = Text("{n} {n|vote|votes} left; {k} of {n}")
    assert text.format(n=1, k=0) == "1 vote left; 0 of 1"
    assert text.format(n=0, k=0) == "0 votes left; 0 of 0"
    assert text.format(n=5, k=2) == "5 votes left; 2 of 5"
    with pytest.raises(KeyError):
        text.format(k=1)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda root: (root / "content/pages/rules.en.md").unlink(), "no 'en' translation"),
        (lambda root: (root / "content/pages/intro.zh.md").write_text("no front matter\n"),
         "must start with a '---' front-matter block"),
        (lambda root: edit(root / "content/campaign.yaml", "base_url: https://v.example.cn",
                           "base_url: https://a-very-long-domain-name.example.cn"),
         "QR version"),
    ],
)  # fmt: skip
def test_other_mistakes(project: Path, mutate: Callable[[Path], None], expected: str) -> None:
    mutate(project)
    assert expected in build_error(project)


def test_ids_longer_than_a_ledger_item_allows_are_refused(project: Path) -> None:
    """Every vote stores both ids; past 64 characters a ledger item could pass 1 KB."""
    long_id = "e" * 65
    for lang in ("zh", "en"):
        (project / f"content/events/events-1.{lang}.md").rename(
            project / f"content/events/{long_id}.{lang}.md"
        )
    message = build_error(project)
    assert f"'{long_id}' is not a valid slug" in message
    assert "at most 64" in message
