import dataclasses
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from populace_lm.base import LanguageModel
from populace_lm.cache import SCHEMA_VERSION, CachedModel, request_key
from populace_lm.errors import CacheError, CacheMissError
from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message

USER = (Message(role="user", content="How are you?"),)
LIKERT5 = IntegerAnswers(low=1, high=5)


def gen(**kw):
    return GenerationRequest(messages=kw.pop("messages", USER), **kw)


def dist(**kw):
    return DistributionRequest(messages=kw.pop("messages", USER), answers=kw.pop("answers", LIKERT5), **kw)


def echo_model(model_id="scripted"):
    """Replies with a text that depends on the whole request, so collapsed keys would show."""
    return ScriptedModel(
        lambda r: f"{r.seed}/{r.temperature}/{r.sample_index}/{r.messages[-1].content}", model_id=model_id
    )


# -- keys ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 1},
        {"temperature": 0.7},
        {"sample_index": 1},
        {"max_tokens": 17},
        {"stop": ("\n",)},
        {"messages": (Message(role="user", content="How are you!"),)},
        {"messages": (Message(role="system", content="You are Ann."), *USER)},
    ],
)
def test_generation_key_changes_with_every_knob(change):
    assert request_key("generate", "m", gen()) != request_key("generate", "m", gen(**change))


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 3},
        {"temperature": 0.5},
        {"n_samples": 7},
        {"answer_prefix": "I give $"},
        {"answers": IntegerAnswers(low=0, high=100)},
    ],
)
def test_distribution_key_changes_with_every_knob(change):
    assert request_key("distribution", "m", dist()) != request_key("distribution", "m", dist(**change))


def test_key_depends_on_model_kind_and_is_stable():
    r = gen()
    assert request_key("generate", "a", r) != request_key("generate", "b", r)
    assert request_key("generate", "a", r) == request_key("generate", "a", gen())
    assert len(request_key("generate", "a", r)) == 64
    assert SCHEMA_VERSION >= 1


def test_distinct_samples_do_not_collapse(tmp_path):
    inner = echo_model()
    model = CachedModel(inner, tmp_path / "c.sqlite")
    texts = [model.generate(gen(temperature=1.0, seed=5, sample_index=i)).text for i in range(4)]
    assert len(set(texts)) == 4
    assert inner.calls == 4


def test_different_models_do_not_share_entries(tmp_path):
    a, b = echo_model("a"), echo_model("b")
    CachedModel(a, tmp_path / "c.sqlite").generate(gen())
    CachedModel(b, tmp_path / "c.sqlite").generate(gen())
    assert (a.calls, b.calls) == (1, 1)


# -- hits, misses, replay, persistence -----------------------------------------------------------------


def test_hit_makes_no_inner_call_and_reports_cached(tmp_path):
    inner = echo_model()
    model = CachedModel(inner, tmp_path / "c.sqlite")
    assert isinstance(model, LanguageModel)
    first = model.generate(gen())
    second = model.generate(gen())
    assert inner.calls == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text
    assert second.usage.backend_calls == 0 and second.usage.prompt_tokens == 0
    assert first.usage.backend_calls == 1
    assert model.stats() == {
        "hits": 1,
        "misses": 1,
        "stores": 1,
        "degraded_stores": 0,
        "sample_hits": 0,
        "sample_misses": 0,
        "sample_stores": 0,
    }
    assert model.model_id == inner.model_id


def test_distribution_round_trip(tmp_path):
    inner = KnownDistributionModel(lambda m, a: [1, 2, 3, 2, 1], valid_mass=0.9)
    model = CachedModel(inner, tmp_path / "c.sqlite")
    first = model.answer_distribution(dist())
    second = model.answer_distribution(dist())
    assert inner.calls == 1
    assert second.cached and not first.cached
    assert dataclasses.replace(second, cached=False, usage=first.usage) == first


def test_replay_miss_raises_with_fix(tmp_path):
    inner = echo_model()
    CachedModel(inner, tmp_path / "c.sqlite").generate(gen())
    replay = CachedModel(inner, tmp_path / "c.sqlite", mode="replay")
    assert replay.generate(gen()).cached
    key = request_key("distribution", inner.model_id, dist())
    with pytest.raises(CacheMissError, match=rf"distribution.*{key[:12]}.*without --replay"):
        replay.answer_distribution(dist())
    assert inner.calls == 1


def test_persistence_across_instances(tmp_path):
    path = tmp_path / "sub" / "c.sqlite"
    inner = echo_model()
    with CachedModel(inner, path) as first:
        first.generate(gen(seed=1))
        first.answer_distribution(dist(seed=2, n_samples=3))
    second = CachedModel(inner, path)
    assert second.generate(gen(seed=1)).cached
    assert second.answer_distribution(dist(seed=2, n_samples=3)).cached
    assert inner.calls == 2
    assert len(second) == 2


def test_table_schema_and_wal(tmp_path):
    path = tmp_path / "c.sqlite"
    CachedModel(echo_model(), path).generate(gen())
    con = sqlite3.connect(path)
    cols = [row[1] for row in con.execute("PRAGMA table_info(responses)")]
    assert cols == ["key", "kind", "request_json", "response_json", "created"]
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT kind FROM responses").fetchall() == [("generate",)]


def test_off_mode_passes_through(tmp_path):
    inner = echo_model()
    model = CachedModel(inner, tmp_path / "c.sqlite", mode="off")
    model.generate(gen())
    model.generate(gen())
    assert inner.calls == 2
    assert not (tmp_path / "c.sqlite").exists()


def test_bad_mode():
    with pytest.raises(ValueError, match="cache mode"):
        CachedModel(echo_model(), "x.sqlite", mode="sometimes")


def test_inner_error_is_not_stored(tmp_path):
    def boom(request):
        raise RuntimeError("backend down")

    model = CachedModel(ScriptedModel(boom), tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError, match="backend down"):
        model.generate(gen())
    assert len(model) == 0


# -- threads -------------------------------------------------------------------------------------------


def test_many_threads_one_file(tmp_path):
    path = tmp_path / "c.sqlite"
    inner = echo_model()
    model = CachedModel(inner, path)
    other = CachedModel(inner, path)  # a second connection to the same file
    errors = []

    def work(t):
        try:
            for i in range(25):
                m = model if (t + i) % 2 else other
                r = gen(seed=i, sample_index=t)
                assert m.generate(r).text == f"{i}/0.0/{t}/How are you?"
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(model) == 200
    # Every request is now a hit, whichever instance asks.
    fresh = CachedModel(echo_model(), path, mode="replay")
    assert all(fresh.generate(gen(seed=i, sample_index=t)).cached for t in range(8) for i in range(25))


# -- path validation and clean shutdown ----------------------------------------------------------------


def test_a_folder_is_refused_with_the_fix(tmp_path):
    with pytest.raises(CacheError, match=r"is a folder: pass a file with --cache \(or POPULACE_CACHE\)"):
        CachedModel(echo_model(), tmp_path)


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes, not a cache\n")
    with pytest.raises(CacheError, match=r"notes.txt is not an SQLite file: pass another file with --cache"):
        CachedModel(echo_model(), path)
    assert path.read_text() == "my notes, not a cache\n"


def test_an_sqlite_file_of_another_program_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE responses (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(CacheError, match="not a Populace cache.*--cache"):
        CachedModel(echo_model(), path)


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CacheError, match="cannot create the folder.*--cache"):
        CachedModel(echo_model(), tmp_path / "afile" / "c.sqlite")


def test_close_checkpoints_the_wal_so_the_sqlite_file_alone_holds_everything(tmp_path):
    path = tmp_path / "c.sqlite"
    other = sqlite3.connect(path)  # a second reader keeps the WAL from being deleted on close
    model = CachedModel(echo_model(), path)
    for seed in range(50):
        model.generate(gen(seed=seed))
    wal = Path(str(path) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    model.close()
    assert not wal.exists() or wal.stat().st_size == 0
    assert other.execute("PRAGMA wal_checkpoint").fetchone()[1] in (0, -1)  # nothing pending
    other.close()
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(path.read_bytes())  # copying only the .sqlite file keeps every answer
    assert len(CachedModel(echo_model(), copy)) == 50


_WRITER = """
import sys
from populace_lm.cache import CachedModel
from populace_lm.fakes import ScriptedModel
from populace_lm.types import GenerationRequest, Message
model = CachedModel(ScriptedModel(lambda r: f"{r.seed}"), sys.argv[1])
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    model.generate(GenerationRequest(messages=(Message(role="user", content="How are you?"),), seed=i))
model.close()
"""


def test_two_processes_share_one_cache_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(lo), str(lo + 60)], cwd=root) for lo in (0, 30)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    replay = CachedModel(echo_model(), path, mode="replay")
    assert len(replay) == 90
    assert [replay.generate(gen(seed=i)).text for i in (0, 45, 89)] == ["0", "45", "89"]
    replay.close()
    wal = Path(str(path) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_wal_switch_waits_while_another_connection_holds_the_new_file(tmp_path):
    import threading

    from populace_lm.cache import _enable_wal

    path = tmp_path / "c.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # what a second process creating the same file looks like
    other = sqlite3.connect(path, timeout=0.01, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _enable_wal(other, wait_s=0.0)  # no wait: the lock is reported at once
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    _enable_wal(other, wait_s=10.0)
    release.join()
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    holder.close()
