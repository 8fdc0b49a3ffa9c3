"""The concept map is complete (every name of the notes, read from docs/notes_names.txt,
has an entry), importable, links files that show each concept, and its doc is fresh."""

import re
from pathlib import Path

import pytest

from jaxdl import concepts

ROOT = Path(__file__).resolve().parent.parent


def notes_names() -> list[str]:
    """The first column of docs/notes_names.txt (name, then the seed files it appears in)."""
    lines = (ROOT / "docs" / "notes_names.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def test_the_names_file_lists_each_name_once_with_its_notes():
    lines = [line.split() for line in (ROOT / "docs" / "notes_names.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    names = [parts[0] for parts in lines]
    assert len(names) == len(set(names)) > 100
    assert all(len(parts) >= 2 and all(re.fullmatch(r"00[0-4]_[0-9a-f]{16}\.txt", f) for f in parts[1:])
               for parts in lines)


def test_every_name_of_the_notes_has_an_entry():
    assert concepts.missing_names(notes_names()) == []


def test_a_name_without_entry_is_reported():
    assert concepts.missing_names([*notes_names(), "nn.Transformer"]) == ["nn.Transformer"]


@pytest.mark.parametrize("c", concepts.CONCEPTS, ids=lambda c: c.torch)
def test_symbol_imports(c):
    assert c.symbol, "every entry names the object it maps to"
    concepts.resolve(c.symbol)


def test_shown_places_exist():
    missing = sorted({p for c in concepts.CONCEPTS for p in c.shown if not (ROOT / p).is_file()})
    assert missing == []
    assert all(c.shown for c in concepts.CONCEPTS), "every entry is shown somewhere"


def test_each_linked_file_writes_the_symbol():
    """A reader who follows a "shown in" link finds the concept's name in that file."""
    absent = [f"{c.torch} -> {c.symbol} not in {p}" for c in concepts.CONCEPTS for p in c.shown
              if not re.search(rf"\b{re.escape(c.symbol.rsplit('.', 1)[-1])}\b", (ROOT / p).read_text())]
    assert absent == []


def test_generated_doc_is_fresh():
    assert concepts.DOC.read_text() == concepts.render(), "run: python -m jaxdl.concepts"
