"""The documentation lives in the repository: every relative link in a Markdown file resolves inside it
(and its #anchor names a heading there), and no document or Python file points outside the project or
reads like a development diary."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from training_utils.paths import REPO_ROOT


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# Assembled from parts, so that this file does not match itself.
FORBIDDEN = {
    "a pointer to documents outside the repository": "shared" + "/docs",
    "a diary note": "lack of" + " time",
    "a temp-directory machine path": "/" + "tmp/",
}


def _tracked(*patterns: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
                             cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
        return sorted(REPO_ROOT / line for line in out.splitlines() if (REPO_ROOT / line).is_file())
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        skip = {".venv", ".git", "build", "runs", "data", ".cache"}
        return sorted(p for pattern in patterns for p in REPO_ROOT.rglob(pattern.split("/")[-1])
                      if not skip & set(p.relative_to(REPO_ROOT).parts))


def _docs() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}


def _links(path: Path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    for match in LINK.finditer(text):
        yield match.group(1) or match.group(2)


def test_readme_is_short():
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("doc", [*_docs(), *_tracked("*.md")], ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve_inside_the_repository(doc):
    broken = []
    for target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        if REPO_ROOT.resolve() not in (resolved, *resolved.parents):
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: {resolved.relative_to(REPO_ROOT.resolve())} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{doc.relative_to(REPO_ROOT)}: " + "; ".join(broken)


def test_no_forbidden_text_in_docs_or_code():
    files = [*_docs(), *_tracked("*.py")]
    hits = [f"{path.relative_to(REPO_ROOT)}:{number}: {what} ({needle!r})"
            for path in files
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            for what, needle in FORBIDDEN.items() if needle in line]
    assert not hits, "\n".join(hits)


def test_docs_tell_no_commit_hashes():
    hexword = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
    hits = [f"{path.relative_to(REPO_ROOT)}:{number}: {match.group(0)}"
            for path in _docs()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            for match in hexword.finditer(line)]
    assert not hits, "commit hashes in the docs:\n" + "\n".join(hits)
