"""The trained retrieval encoder (arXiv:2509.10127 §3.3) on a fake LLM: queries, mining, filtering, record."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from populace_lm.fakes import KnownDistributionModel
from populations.encoder_training import (
    EncoderError,
    load_encoder,
    recall_at,
    split_personas,
    train_retrieval_encoder,
)
from populations.persona import Persona
from populations.subgroups import minilm_path

JOBS = ["nurse", "farmer", "teacher", "pilot"]
CITIES = ["Oslo", "Lima", "Cairo", "Perth", "Quito"]
HOBBIES = ["chess", "surfing", "knitting", "karate", "opera"]


def persona_text(i: int) -> str:
    return f"I am a {JOBS[i % 4]} living in {CITIES[i % 5]}. I enjoy {HOBBIES[(i // 4) % 5]}."


def query_reply(request) -> str:
    """Detailed: job, city and hobby; broad: the job; persona pilots' broad queries are refused."""
    text = request.messages[-1].content
    job, city, hobby = re.search(r"a (\w+) living in (\w+)\. I enjoy (\w+)", text).groups()
    if "broad" in text:
        return "I can't do that." if job == "pilot" else f"Group: {job}s"
    return f"- {job}s in {city} who enjoy {hobby}\nThat is all."


def fits(messages, answers):
    """P(fits) = 0.9 when the group names the person's job, else 0.1."""
    text = messages[-1].content
    group = re.search(r"Group: (\w+?)s\b", text).group(1)
    person_job = re.search(r"Person: I am a (\w+)", text).group(1)
    return [0.9, 0.1] if group == person_job else [0.1, 0.9]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pools") / "toy"
    folder.mkdir()
    rows = [{"id": f"p{i}", "text": persona_text(i)} for i in range(20)]
    (folder / "personas.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_recall_at_counts_the_rank_of_the_positive():
    persona = np.eye(3)
    q = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.1, 0.5, 0.86]])
    assert recall_at(q, persona, np.array([0, 0, 0]), (1, 2)) == {"recall@1": 1 / 3, "recall@2": 2 / 3}


def test_split_is_seeded_disjoint_and_refuses_a_tiny_pool():
    ps = [Persona(id=f"p{i}", text=f"t{i}") for i in range(12)]
    tr, ho = split_personas(ps, held_out=0.25, seed=1, name="x")
    assert len(ho) == 3 and len(tr) == 9 and not {p.id for p in tr} & {p.id for p in ho}
    assert split_personas(ps, held_out=0.25, seed=1, name="x") == (tr, ho)
    with pytest.raises(EncoderError, match="pool 'x' has 6 personas: too few to split"):
        split_personas(ps[:6], held_out=0.25, seed=1, name="x")


def test_a_folder_that_is_no_model_is_one_line(tmp_path):
    with pytest.raises(EncoderError, match="is not a sentence-transformers model folder"):
        load_encoder(tmp_path)
    with pytest.raises(EncoderError, match="does not exist"):
        load_encoder(tmp_path / "nope")


@pytest.mark.slow
def test_train_records_queries_failures_filtered_negatives_and_versions(pool, tmp_path):
    model = KnownDistributionModel(fits, generate_fn=query_reply)
    (tmp_path / "toy-v3").mkdir()  # an earlier version: the new one is v4
    kw = {"n_personas": 12, "held_out": 0.25, "hard_k": 2, "n_random": 0, "batch_size": 8, "progress": False}
    t = train_retrieval_encoder(model, pool, tmp_path, seed=0, **kw)
    r = t.record
    assert t.path == tmp_path / "toy-v4" and (t.path / "modules.json").is_file()
    assert json.loads((t.path / "training.json").read_text())["version"] == 4
    assert len(set(r["split"]["train"]) | set(r["split"]["held_out"])) == 12
    assert len(r["split"]["held_out"]) == 3
    # the pilots' refused broad queries are recorded, never replaced
    refused = [f for f in r["failures"] if f["reason"] == "refusal"]
    assert refused and all(f["kind"] == "broad" for f in refused)
    assert all(q["query"] and not q["query"].startswith(("-", "Group")) for q in r["queries"])
    assert r["sizes"]["train_pairs"] + r["sizes"]["held_out_pairs"] == 24 - len(r["failures"])
    # same-job hard negatives are false negatives: filtered and recorded
    assert r["filtered"] and all(f["reason"] == "false negative" for f in r["filtered"])
    for f in r["filtered"]:
        job = lambda pid: JOBS[int(pid[1:]) % 4]  # noqa: E731
        assert job(f["negative"]) == job(f["positive"])
    assert r["sizes"]["triplets"] > 0 and len(r["loss_curve"]) >= 1
    assert set(r["recall_trained"]) == {"recall@1", "recall@10"}
    enc = load_encoder(t.path)
    v = enc.encode(["nurses in Oslo"])
    assert v.shape == (1, 384) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert enc.model_id != load_encoder(minilm_path()).model_id  # a saved index of the untrained one is rebuilt


def test_train_refuses_a_pool_too_small_to_split(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "personas.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "text": persona_text(i)}) + "\n"
                                                   for i in range(5)))  # fmt: skip
    model = KnownDistributionModel(fits, generate_fn=query_reply)
    with pytest.raises(EncoderError, match="too few to split"):
        train_retrieval_encoder(model, folder, tmp_path / "out", progress=False)
