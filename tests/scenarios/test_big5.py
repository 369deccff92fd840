"""BIG5 / IPIP-FFM loaders, IPIP-50 keying and scoring against the numbers in the datasets' SOURCE.md."""

from __future__ import annotations

import gzip
import http.server
import threading

import numpy as np
import pandas as pd
import pytest

from scenarios import get_scenario
from scenarios.big5 import ITEM_IDS, load_big5, load_ipip_ffm_sample
from scenarios.errors import DataError

# Trait sums in big5_osp/SOURCE.md: (mean, sd), n = 19,718 each.
SOURCE_STATS = {"E": (30.11, 9.22), "N": (30.97, 8.62), "A": (38.45, 7.15), "C": (33.47, 7.31), "O": (39.09, 6.26)}


@pytest.fixture(scope="module")
def big5(data_dir):
    return load_big5(data_dir)


def bigfive_survey(data_dir):
    """The built-in IPIP-50 instrument (``scenarios/builtin/bigfive.toml``) as a survey over the 50 items."""
    return get_scenario("bigfive", source=data_dir).survey


def test_loader_counts_and_cleaning(big5):
    assert big5.n == 19_718
    assert big5.cleaning["rows_read"] == 19_719 and big5.cleaning["rows_all_items_missing"] == 1
    assert big5.cleaning["country_set_missing"] == 369 + 1 + 17
    assert big5.cleaning["age_birth_year_recoded"] > 0 and big5.cleaning["age_junk_set_missing"] > 0
    ages = big5.demographics["age"].dropna()
    assert ages.between(13, 99).all()
    assert big5.demographics["country"].value_counts().iloc[0] == 8_753  # US


def test_trait_means_and_sds_match_source(big5, data_dir):
    survey = bigfive_survey(data_dir)
    scores = survey.score(big5.items)
    for j, trait in enumerate(survey.dimensions):
        col = scores[:, j]
        col = col[~np.isnan(col)]
        mean, sd = SOURCE_STATS[trait]
        assert col.size == 19_718
        assert col.mean() == pytest.approx(mean, abs=0.006)
        assert col.std(ddof=1) == pytest.approx(sd, abs=0.006)


def test_reverse_keying_by_hand_on_two_rows(big5, data_dir):
    survey = bigfive_survey(data_dir)
    # Row 1 of data.csv: E1..E10 = 4 2 5 2 5 1 4 3 5 1. Reverse items E2 E4 E6 E8 E10 score 6 - x:
    # 4 + 4 + 5 + 4 + 5 + 5 + 4 + 3 + 5 + 5 = 44.
    # Row 2: E = 2 2 3 3 3 3 1 5 1 5 → 2 + 4 + 3 + 3 + 3 + 3 + 1 + 1 + 1 + 1 = 22.
    e = survey.score(big5.items[:2])[:, survey.dimensions.index("E")]
    np.testing.assert_array_equal(e, [44, 22])
    reverse = {it.id for it in survey.items if it.reverse}
    assert {"E2", "N2", "A1", "C2", "O2"} <= reverse and "E1" not in reverse and len(reverse) == 18


def test_codebook_item_texts(data_dir):
    survey = bigfive_survey(data_dir)
    assert [it.id for it in survey.items] == list(ITEM_IDS)
    assert survey.item("E1").text == "I am the life of the party."
    assert survey.item("E2").reverse and not survey.item("E1").reverse
    assert survey.question("E1").answers.values == (1, 2, 3, 4, 5)


def test_ipip_ffm_sample_is_close_to_big5(data_dir):
    ffm = load_ipip_ffm_sample(data_dir)
    assert ffm.items.shape[1] == 50 and 2_990 <= ffm.n <= 3_000
    e = bigfive_survey(data_dir).score(ffm.items)[:, 0]
    e = e[~np.isnan(e)]
    assert e.mean() == pytest.approx(29.59, abs=0.01) and e.size == 2_886


def _write_big5(tmp_path, rows):
    folder = tmp_path / "big5_osp"
    folder.mkdir(parents=True)
    header = "race\tage\tengnat\tgender\thand\tsource\tcountry\t" + "\t".join(ITEM_IDS)
    (folder / "data.csv").write_text("\r\n".join([header, *rows]) + "\r\n")
    return tmp_path


def test_malformed_cell_names_file_row_and_column(tmp_path):
    good = "3\t30\t1\t1\t1\t1\tUS\t" + "\t".join(["3"] * 50)
    bad = "3\t30\t1\t1\t1\t1\tUS\t" + "\t".join(["3"] * 12 + ["x"] + ["3"] * 37)
    src = _write_big5(tmp_path, [good, bad])
    with pytest.raises(DataError, match=r"data\.csv: row 3, column 'N3': value 'x' is not a number"):
        load_big5(src)


def test_out_of_range_item_is_an_error(tmp_path):
    row = "3\t30\t1\t1\t1\t1\tUS\t" + "\t".join(["3"] * 49 + ["7"])
    with pytest.raises(DataError, match=r"row 2, column 'O10': value 7 is not in 0\.\.5"):
        load_big5(_write_big5(tmp_path, [row]))


def test_missing_directory_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="does not exist; pass --data"):
        load_big5(tmp_path / "nowhere")


def test_loader_accepts_a_url(tmp_path, monkeypatch):
    row = "3\t1990\t1\t2\t1\t1\t(nu\t" + "\t".join(["4"] * 50)
    src = _write_big5(tmp_path / "site", [row])

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(src), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("POPULACE_DATA_CACHE", str(tmp_path / "cache"))
    try:
        data = load_big5(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()
    assert data.n == 1 and data.demographics["age"].iloc[0] == 22 and pd.isna(data.demographics["country"].iloc[0])


def test_gzip_ffm_with_na_rows(tmp_path):
    folder = tmp_path / "ipip_ffm_sample"
    folder.mkdir()
    cols = [f"{p}{i}" for p in ("EXT", "EST", "AGR", "CSN", "OPN") for i in range(1, 11)]
    lines = [";".join(f'"{c}"' for c in cols), ";".join(["2"] * 50), ";".join(["NA"] * 50)]
    with gzip.open(folder / "BFPT.csv.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    data = load_ipip_ffm_sample(tmp_path)
    assert data.n == 1 and data.cleaning["rows_all_items_missing"] == 1
