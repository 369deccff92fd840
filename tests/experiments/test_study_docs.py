"""The study-file reference in docs/study_files.md is the schema itself, so the document cannot drift."""

from __future__ import annotations

from pathlib import Path

from experiments.study import TREATMENT, schema_markdown
from populations.constructions import construction_kinds

DOC = Path(__file__).resolve().parents[2] / "docs" / "study_files.md"


def test_doc_embeds_the_rendered_schema():
    text = DOC.read_text(encoding="utf-8")
    assert text.endswith(schema_markdown()), "regenerate the key tables of docs/study_files.md from schema_markdown()"


def test_rendered_schema_lists_every_key_and_kind():
    md = schema_markdown()
    for kind in construction_kinds():
        assert f'#### kind = "{kind.name}"' in md
        assert all(f"| `{k}` |" in md for k in kind.params)
    assert all(f"| `{k}` |" in md for k in TREATMENT)
