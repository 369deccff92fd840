"""``populace run`` at scale and under bad paths: streamed row groups, refusals before any work, one-line errors."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import experiments.cmd_run
import experiments.common
from experiments.cli import main
from populace_lm.fakes import KnownDistributionModel


@pytest.fixture
def fake(monkeypatch):
    model = KnownDistributionModel(lambda messages, answers: np.linspace(1.0, 2.0, answers.size), valid_mass=0.95)
    monkeypatch.setattr(experiments.common, "model_from_args", lambda args: model)
    monkeypatch.setenv("POPULACE_QUIET", "1")
    return model


def _run(tmp_path, *extra, out=None, agents="1000"):
    return main(
        [
            "run",
            "--population",
            "fixed",
            "--scenario",
            "bigfive:E",
            "--agents",
            agents,
            "--out",
            str(out or tmp_path / "out"),
            "--quiet",
            *extra,
        ]
    )


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("populace: error: "), err
    return err[0]


def test_records_stream_in_row_groups_and_read_back_whole(tmp_path, fake, monkeypatch):
    out = tmp_path / "out"
    original = experiments.cmd_run.RecordWriter.__call__
    sizes = []

    def spy(self, frame):
        sizes.append(len(frame))
        return original(self, frame)

    monkeypatch.setattr(experiments.cmd_run.RecordWriter, "__call__", spy)
    assert _run(tmp_path, out=out) == 0
    meta = pq.ParquetFile(out / "records.parquet").metadata
    assert meta.num_rows == 10_000 and meta.num_row_groups == len(sizes) == 10  # one per item (chunk > agents)
    records = pd.read_parquet(out / "records.parquet")
    assert list(records["question"].unique()) == [f"E{i}" for i in range(1, 11)]
    assert (records.groupby("question")["agent"].apply(lambda a: (np.diff(a) == 1).all())).all()
    assert not list(out.glob("*.partial")) and not list(out.glob(".populace-spill-*"))


def test_an_agent_count_that_cannot_fit_is_refused_before_any_work_with_the_estimate(tmp_path, fake, capsys):
    out = tmp_path / "out"
    assert _run(tmp_path, out=out, agents="1000000000") == 2
    line = _one_line(capsys)
    assert "--agents 1000000000: this run needs" in line and "GiB" in line and "10,000,000,000 record rows" in line
    assert "lower --agents (about" in line
    assert fake.calls == 0 and not out.exists()


def test_out_under_proc_fails_before_any_work(tmp_path, fake, capsys):
    assert _run(tmp_path, out="/proc/x") == 2
    line = _one_line(capsys)
    assert "--out /proc/x: cannot write in /proc/x" in line and "pass a folder you can write to" in line
    assert fake.calls == 0


def test_garbage_in_the_cache_is_the_one_line_cache_error(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache.sqlite"
    conn = sqlite3.connect(cache)
    conn.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, kind TEXT NOT NULL, request_json TEXT NOT NULL, "
        "response_json TEXT NOT NULL, created REAL NOT NULL)"
    )
    conn.executemany(
        "INSERT INTO responses VALUES (?, 'distribution', '{}', ?, 0)",
        [(f"{i:064x}", "x" * 300) for i in range(400)],
    )
    conn.commit()
    conn.close()
    data = bytearray(cache.read_bytes())
    data[2 * 4096 :] = bytes((i * 131 + 7) % 256 for i in range(len(data) - 2 * 4096))
    cache.write_bytes(bytes(data))
    monkeypatch.setenv("POPULACE_QUIET", "1")
    monkeypatch.setenv("LOOPBACK_KEY", "none")
    code = _run(
        tmp_path,
        "--cache",
        str(cache),
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--api-key-env",
        "LOOPBACK_KEY",
        "--server-kind",
        "openai",
        agents="3",
    )
    line = _one_line(capsys)
    assert code == 2 and "response cache" in line and "--cache" in line
