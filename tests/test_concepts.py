"""The concept map is complete, importable, points at real files, and its doc is fresh."""

from pathlib import Path

import pytest

from jaxdl import concepts

ROOT = Path(__file__).resolve().parent.parent


def test_every_name_of_the_notes_has_an_entry():
    assert concepts.missing_names() == []


def test_a_name_without_entry_is_reported(monkeypatch):
    monkeypatch.setattr(concepts, "NOTES_NAMES", concepts.NOTES_NAMES + ["nn.Transformer"])
    assert concepts.missing_names() == ["nn.Transformer"]


@pytest.mark.parametrize("c", [c for c in concepts.CONCEPTS if c.symbol], ids=lambda c: c.symbol)
def test_symbol_imports(c):
    concepts.resolve(c.symbol)


def test_shown_places_exist():
    missing = sorted({p for c in concepts.CONCEPTS for p in c.shown if not (ROOT / p).is_file()})
    assert missing == []
    assert all(c.shown for c in concepts.CONCEPTS), "every entry is shown somewhere"


def test_generated_doc_is_fresh():
    assert concepts.DOC.read_text() == concepts.render(), "run: python -m jaxdl.concepts"
