"""Code comments and docstrings cite only what the repository contains (tests/test_cli_docs.py checks the
docs): decisions from docs/adr/, semantics from docs/*.md; never a facts file, a DESIGN.md or an ADR
outside the repository without the ADR of ours that records it."""

from __future__ import annotations

import re
from pathlib import Path

import saqmigrate

PKG = Path(saqmigrate.__file__).resolve().parent
REPO = PKG.parent
OUTSIDE = re.compile(
    r"DESIGN\.md|\bfacts §|celery-saq-facts\.md|routing-design\.md|codemod-anchors\.md|shared/reference"
)
DOC_PATH = re.compile(r"\bdocs/[\w./-]*\w\.md\b")
PYORG_ADR = "docs/adr/0001-python-org-adr-002-is-the-acceptance-material.md"


def _sources() -> list[tuple[str, str]]:
    return [(p.relative_to(REPO).as_posix(), p.read_text(encoding="utf-8")) for p in sorted(PKG.rglob("*.py"))]


def test_no_citation_of_documents_outside_the_repository() -> None:
    found = [
        f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for rel, text in _sources()
        for m in OUTSIDE.finditer(text)
    ]
    assert not found, f"cite docs/adr/ or docs/*.md instead: {found}"


def test_cited_docs_exist() -> None:
    missing = sorted(
        {
            f"{rel}: {m.group(0)}"
            for rel, text in _sources()
            for m in DOC_PATH.finditer(text)
            if not (REPO / m.group(0)).exists()
        }
    )
    assert not missing, missing


def test_python_orgs_adr_002_is_cited_with_the_adr_that_records_it() -> None:
    """ "ADR-002" is python.org's document; a module naming it also names docs/adr/0001, which records
    what saqmigrate takes from it."""
    bare = [rel for rel, text in _sources() if "ADR-002" in text and PYORG_ADR not in text]
    assert not bare, bare
