"""``docs/scenario_files.md`` ends with the key table generated from the scenario schema, so the two stay in step."""

from __future__ import annotations

from pathlib import Path

from scenarios.schema import scenario_schema_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenario_files.md"


def test_scenario_docs_end_with_the_generated_key_table():
    assert DOC.read_text().endswith(scenario_schema_markdown()), (
        "regenerate the end of docs/scenario_files.md from scenarios.schema.scenario_schema_markdown()"
    )


def test_the_generated_table_names_every_new_key():
    md = scenario_schema_markdown()
    for key in ("keys.path", "keys.item", "keys.key", "dimensions.NAME.min_answered", "decision.bins",
                "decision.bin_rule", "data.files", "data.files[].group"):  # fmt: skip
        assert f"| `{key}` |" in md, key
