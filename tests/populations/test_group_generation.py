"""Group-specific generation (arXiv:2509.10127 Eq. 15) and the checks on generated and revised personas."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.fakes import ScriptedModel
from populations.group_generation import check_persona_text, generate_for_group
from populations.persona import Persona, Population
from populations.subgroups import revise_toward

SEEDS = ("A nurse living in Sweden who bakes bread.", "A farmer living in Sweden who keeps bees.")


def seeds() -> Population:
    return Population(
        personas=tuple(Persona(id=f"s{i}", text=t) for i, t in enumerate(SEEDS)),
        weights=np.array([0.25, 0.75]),
        construction="aligned+subgroup",
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("  \n ", "empty"),
        ("A nurse living in Sweden who bakes bread.", "copy of a seed"),
        ("a nurse, living in Sweden, who bakes bread!", "copy of a seed"),
        ("A nurse living in Sweden who bakes breads.", "copy of a seed"),
        ("A teacher in Malmo who would answer 4 on every question.", "names a target answer"),
        ("A retired sailor from Gothenburg; he rates trust 7 out of 10.", "names a target answer"),
        ("A student in Uppsala who strongly agrees with everything.", "names a target answer"),
        ("A student in Uppsala who is 23 and studies law.", None),
        ("A retired sailor from Gothenburg who loves the sea.", None),
    ],
)
def test_check_persona_text(text, reason):
    assert check_persona_text(text, SEEDS, forbid=("strongly agree", "strongly agrees")) == reason


def test_generate_keeps_checked_personas_and_records_every_failure():
    replies = [
        "Here is a new person: A student in Uppsala who studies law and sings in a choir.",
        "",
        SEEDS[0],
        "A teacher in Malmo who would answer 5 to the survey.",
        "A student in Uppsala who studies law and sings in a choir.",  # a copy of the first generated one
        "A retired sailor from Gothenburg who loves the sea.",
    ]
    model = ScriptedModel(replies)
    out = generate_for_group(model, seeds(), "adults in Sweden", 6, seed=3)
    assert [p.text for p in out.personas] == [
        "A student in Uppsala who studies law and sings in a choir.",
        "A retired sailor from Gothenburg who loves the sea.",
    ]
    assert out.construction == "aligned+subgroup+generated"
    np.testing.assert_allclose(out.weights, [0.5, 0.5])
    gen = out.metadata["generation"]
    assert gen["requested"] == 6 and gen["accepted"] == 2
    assert [(f["index"], f["reason"]) for f in gen["failures"]] == [
        (1, "empty"),
        (2, "copy of a seed"),
        (3, "names a target answer"),
        (4, "copy of an earlier generated persona"),
    ]
    prompt = model.requests[0].messages[-1].content
    assert "adults in Sweden" in prompt and all(s in prompt for s in SEEDS)
    assert len({r.seed for r in model.requests}) == 6  # one seeded generation per persona


def test_generate_with_no_usable_reply_keeps_the_seeds_and_records():
    out = generate_for_group(ScriptedModel([""]), seeds(), "adults in Sweden", 2)
    assert [p.text for p in out.personas] == list(SEEDS) and out.metadata["generation"]["accepted"] == 0
    with pytest.raises(ValueError, match="must be >= 1"):
        generate_for_group(ScriptedModel([""]), seeds(), "adults in Sweden", 0)


def test_revisions_are_checked_and_failures_keep_the_original():
    model = ScriptedModel(["A nurse in Stockholm who bakes bread.", SEEDS[1], "They would answer 3."])
    pop = Population(
        personas=(*seeds().personas, Persona(id="s2", text="A pilot living in Texas.")),
        weights=np.full(3, 1 / 3),
        construction="aligned+subgroup",
    )
    rev = revise_toward(model, pop, "adults in Sweden")
    assert rev.personas[0].text == "A nurse in Stockholm who bakes bread." and rev.personas[0].attributes["revised"]
    assert rev.personas[1].text == SEEDS[1] and rev.personas[1].attributes["revise_failure"] == "copy of a seed"
    assert rev.personas[2].text == "A pilot living in Texas."
    assert rev.personas[2].attributes["revise_failure"] == "names a target answer"
    assert rev.metadata["revision"]["revised"] == 1 and len(rev.metadata["revision"]["failures"]) == 2
