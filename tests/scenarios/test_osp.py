"""OSP CFCS / Grit loaders and survey specs, and the WVS poverty loader."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.errors import DataError
from scenarios.osp import (
    CFCS_REVERSE,
    GRIT_REVERSE,
    cfcs_survey,
    grit_survey,
    load_cfcs,
    load_grit,
    osp_survey_and_data,
)
from scenarios.wvs import COUNTRIES, load_wvs_poverty, poverty_question


def test_cfcs_survey_from_codebook(data_dir):
    s = cfcs_survey(data_dir)
    assert [it.id for it in s.items] == [f"Q{i}" for i in range(1, 13)]
    assert s.item("Q1").text.startswith("I consider how things might be in the future")
    assert {it.id for it in s.items if it.reverse} == CFCS_REVERSE
    assert s.dimensions == ("CFC",)
    assert "extremely characteristic" in s.question("Q1").prompt


def test_cfcs_data_matches_source_md(data_dir):
    d = load_cfcs(data_dir)
    assert d.n == 15035
    # SOURCE.md: 215 rows have an item = 0; one more row is coded -1 in every item (read as missing)
    assert d.complete().sum() == 14819
    assert d.cleaning["cells_coded_minus_one"] == 12
    scores = cfcs_survey(data_dir).score(d.items[d.complete()])[:, 0]
    assert scores.mean() == pytest.approx(40.27, abs=0.01)  # SOURCE.md sum mean
    assert d.demographics["country"].value_counts()["US"] == 7893


def test_grit_survey_and_data(data_dir):
    s = grit_survey(data_dir)
    assert {it.id for it in s.items if it.reverse} == GRIT_REVERSE
    assert s.anchors[1] == "very much like me"
    d = load_grit(data_dir)
    assert d.n == 4270
    assert d.complete().sum() == 4183
    grit = s.score(d.items[d.complete()])[:, 0] / 12
    assert grit.mean() == pytest.approx(3.238, abs=0.001)  # SOURCE.md Grit mean
    assert d.ipip is not None and d.ipip.shape == (4270, 50)
    assert d.demographics["education"].value_counts()[2] == 1843


def test_osp_dispatch_and_unknown(data_dir):
    survey, data = osp_survey_and_data("osp_cfcs", data_dir)
    assert survey.name == "cfcs" and data.items.shape[1] == 12
    with pytest.raises(DataError, match="unknown OSP survey"):
        osp_survey_and_data("osp_nope", data_dir)


def test_bad_cell_names_file_row_column(tmp_path, data_dir):
    folder = tmp_path / "osp_cfcs"
    folder.mkdir()
    lines = (data_dir / "osp_cfcs" / "data.csv").read_text().splitlines()[:4]
    cells = lines[2].split("\t")
    cells[4] = "7"
    lines[2] = "\t".join(cells)
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"data\.csv: row 3, column 'Q5': value '7'"):
        load_cfcs(tmp_path)


def test_codebook_missing_item(tmp_path):
    folder = tmp_path / "osp_grit"
    folder.mkdir()
    (folder / "codebook.txt").write_text("GS1\tI have...\n")
    with pytest.raises(DataError, match=r"codebook lacks item lines for \['GS2'"):
        grit_survey(tmp_path)


def test_grit_codebook_order_checked(tmp_path, data_dir):
    folder = tmp_path / "osp_grit"
    folder.mkdir()
    text = (data_dir / "osp_grit" / "codebook.txt").read_text().replace("GS4\tSetbacks", "GS4\tNew ideas")
    (folder / "codebook.txt").write_text(text)
    with pytest.raises(DataError, match="GS4"):
        grit_survey(tmp_path)


def test_wvs_poverty_by_country(data_dir):
    d = load_wvs_poverty(data_dir)
    assert d.poverty.shape == (5381,)
    usa = d.by_country("USA")
    assert usa.size == 1377
    assert np.mean(usa == 3) == pytest.approx(450 / 1377)
    assert set(COUNTRIES) == set(d.demographics["country"])
    with pytest.raises(DataError, match="unknown WVS country"):
        d.by_country("Chile")
    q = poverty_question()
    assert q.answers.values == (1, 2, 3)
