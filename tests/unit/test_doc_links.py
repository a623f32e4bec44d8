"""Every relative link and every repository path a document names leads somewhere in this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_files_of_the_repository(doc: Path) -> None:
    dead = []
    for target in LINK.findall(doc.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (doc.parent / target).resolve()
        if not path.exists() or REPO not in path.parents:
            dead.append(target)
    assert dead == [], f"{doc.name} links to what is not in the repository: {dead}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_document_sends_the_reader_outside_the_repository(doc: Path) -> None:
    assert "../shared/" not in doc.read_text()
