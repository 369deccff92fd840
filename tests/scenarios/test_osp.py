"""The ``osp_grit`` respondents loader (the demographics of ``grit_respondent_pool``), against SOURCE.md."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.errors import DataError
from scenarios.osp import GRIT_ITEMS, load_grit


def test_grit_data_matches_source_md(data_dir):
    d = load_grit(data_dir)
    assert d.n == 4270 and d.items.shape == (4270, len(GRIT_ITEMS))
    assert d.complete().sum() == 4183
    assert d.cleaning == {
        "rows_read": 4270,
        "rows_with_missing_item": 87,
        "cells_coded_minus_one": 0,
        "age_junk_set_missing": 2,
        "country_set_missing": 43,
    }
    demo = d.demographics
    assert demo["education"].value_counts()[2] == 1843
    assert demo["age"].dropna().between(13, 99).all() and demo["age"].isna().sum() == 2
    assert demo["attentive"].sum() == 3162  # no fake word VCL6/9/12 ticked
    # raw Grit answers 1..5 (0 → NaN), not keyed: row 1 of data.csv starts 1 1 3 3 3 2
    np.testing.assert_array_equal(d.items[0, :6], [1, 1, 3, 3, 3, 2])


def _write(tmp_path, lines):
    folder = tmp_path / "osp_grit"
    folder.mkdir()
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_bad_cell_names_file_row_column(tmp_path, data_dir):
    lines = (data_dir / "osp_grit" / "data.csv").read_text().splitlines()[:4]
    header = lines[0].split("\t")
    cells = lines[2].split("\t")
    cells[header.index("GS5")] = "7"
    lines[2] = "\t".join(cells)
    with pytest.raises(DataError, match=r"data\.csv: row 3, column 'GS5': value '7' is not in 0\.\.5"):
        load_grit(_write(tmp_path, lines))


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(DataError, match=r"missing columns \['GS12', 'age'"):
        load_grit(_write(tmp_path, ["\t".join((*GRIT_ITEMS[:-1], "gender", "country", "education")), ""]))
