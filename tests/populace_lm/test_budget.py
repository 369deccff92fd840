import threading
import time

import pytest

from populace_lm.budget import AccountingModel, BudgetedModel, ConcurrencyLimiter, find_layer, map_concurrent
from populace_lm.cache import CachedModel
from populace_lm.config import LLMConfig, build_model
from populace_lm.errors import AuthenticationError, BudgetExceededError
from populace_lm.fakes import KnownDistributionModel, ScriptedModel
from populace_lm.openai_compat import OpenAICompatible
from populace_lm.types import DistributionRequest, GenerationRequest, IntegerAnswers, Message

USER = (Message(role="user", content="Pick a number."),)


def gen(seed=0):
    return GenerationRequest(messages=USER, seed=seed, temperature=1.0)


def dist(seed=0):
    return DistributionRequest(messages=USER, answers=IntegerAnswers(low=1, high=5), seed=seed)


# -- budget --------------------------------------------------------------------------------------------


def test_call_budget_raises_before_the_extra_call():
    inner = ScriptedModel(["3"])
    model = BudgetedModel(inner, max_calls=2)
    model.generate(gen(0))
    model.generate(gen(1))
    with pytest.raises(BudgetExceededError, match="call budget of 2.*re-run"):
        model.generate(gen(2))
    assert inner.calls == 2
    assert model.remaining() == {"calls": 0, "tokens": None}


def test_token_budget_stops_the_next_call():
    inner = ScriptedModel(["one two three"])  # 3 prompt words + 3 completion words per call
    model = BudgetedModel(inner, max_tokens=8)
    model.generate(gen(0))  # 6 tokens
    model.generate(gen(1))  # 12 tokens: crosses the budget, still answered
    with pytest.raises(BudgetExceededError, match="token budget of 8"):
        model.generate(gen(2))
    assert inner.calls == 2


def test_budget_never_fabricates_under_threads():
    inner = ScriptedModel(["3"])
    model = BudgetedModel(inner, max_calls=10)
    with pytest.raises(BudgetExceededError):
        map_concurrent(model, [gen(i) for i in range(50)], max_workers=8)
    assert inner.calls == 10


def test_budget_exhaustion_keeps_the_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    requests = [gen(i) for i in range(6)] + [dist(i) for i in range(4)]

    first_backend = ScriptedModel(lambda r: str(1 + r.seed % 5))
    model = CachedModel(BudgetedModel(first_backend, max_calls=4), path)
    done = []
    with pytest.raises(BudgetExceededError):
        for r in requests:
            done.append(model.generate(r) if isinstance(r, GenerationRequest) else model.answer_distribution(r))
    assert len(done) == 4 and len(model) == 4

    # A re-run with a fresh budget makes no calls for what was computed before.
    second_backend = ScriptedModel(lambda r: str(1 + r.seed % 5))
    rerun = CachedModel(BudgetedModel(second_backend, max_calls=6), path)
    results = map_concurrent(rerun, requests, max_workers=3)
    assert second_backend.calls == 6
    assert [r.cached for r in results] == [True] * 4 + [False] * 6
    assert [r.text for r in results[:4]] == [d.text for d in done]


def test_bad_budget():
    with pytest.raises(ValueError, match="max_calls"):
        BudgetedModel(ScriptedModel(["1"]), max_calls=-1)


# -- accounting ----------------------------------------------------------------------------------------


def test_accounting_counts_calls_tokens_latency():
    inner = ScriptedModel(["a b"])
    acc = AccountingModel(inner)
    acc.generate(gen())
    acc.generate(gen(1))
    acc.answer_distribution(DistributionRequest(messages=USER, answers=IntegerAnswers(low=1, high=5), n_samples=3))
    s = acc.summary()
    assert s["generate"]["calls"] == 2
    assert s["generate"]["prompt_tokens"] == 6 and s["generate"]["completion_tokens"] == 4
    assert s["answer_distribution"]["backend_calls"] == 3
    assert s["total"]["calls"] == 3 and s["total"]["backend_calls"] == 5
    assert len(s["total"]["latencies_s"]) == 3
    assert s["total"]["latency_s"] == pytest.approx(sum(s["total"]["latencies_s"]))


def test_accounting_counts_errors():
    acc = AccountingModel(BudgetedModel(ScriptedModel(["1"]), max_calls=0))
    with pytest.raises(BudgetExceededError):
        acc.generate(gen())
    assert acc.summary()["generate"]["errors"] == 1


# -- concurrency ---------------------------------------------------------------------------------------


class SlowModel:
    model_id = "slow"

    def __init__(self, delay):
        self.delay = delay
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def generate(self, request):
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        return ScriptedModel([f"seed {request.seed}"]).generate(request)

    def answer_distribution(self, request):
        raise NotImplementedError


def test_map_concurrent_keeps_order_and_bounds_workers():
    slow = SlowModel(0.01)
    results = map_concurrent(slow, [gen(i) for i in range(20)], max_workers=4)
    assert [r.text for r in results] == [f"seed {i}" for i in range(20)]
    assert 1 < slow.peak <= 4


def test_map_concurrent_mixes_request_kinds():
    model = KnownDistributionModel(lambda m, a: [0, 0, 1, 0, 0])
    out = map_concurrent(model, [dist(), gen()], max_workers=2)
    assert out[0].probs == (0.0, 0.0, 1.0, 0.0, 0.0)
    assert out[1].text == "3"
    with pytest.raises(TypeError, match="GenerationRequest"):
        map_concurrent(model, ["not a request"])


def test_concurrency_limiter_bounds_in_flight_calls():
    slow = SlowModel(0.01)
    limited = ConcurrencyLimiter(slow, max_concurrent=2)
    map_concurrent(limited, [gen(i) for i in range(12)], max_workers=6)
    assert slow.peak == 2


# -- config and composition ----------------------------------------------------------------------------


def test_config_round_trip_and_env(tmp_path):
    env = {
        "POPULACE_BACKEND": "openai",
        "POPULACE_BASE_URL": "http://127.0.0.1:9/v1",
        "POPULACE_MODEL": "m",
        "POPULACE_CACHE": str(tmp_path / "c.sqlite"),
        "POPULACE_CACHE_MODE": "replay",
    }
    cfg = LLMConfig.from_env(env, max_calls=5)
    assert (cfg.backend, cfg.base_url, cfg.model, cfg.cache_mode, cfg.max_calls) == (
        "openai",
        "http://127.0.0.1:9/v1",
        "m",
        "replay",
        5,
    )
    assert cfg.cache_path == str(tmp_path / "c.sqlite")
    assert LLMConfig.from_dict(cfg.to_dict()) == cfg
    assert LLMConfig.from_env({}).backend == "local"


def test_config_default_cache_path(monkeypatch):
    monkeypatch.delenv("POPULACE_CACHE", raising=False)
    assert LLMConfig().cache_path == "~/.cache/populace/responses.sqlite"
    monkeypatch.setenv("POPULACE_CACHE", "/tmp/x.sqlite")
    assert LLMConfig().cache_path == "/tmp/x.sqlite"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "gpt"}, "POPULACE_BACKEND"),
        ({"cache_mode": "maybe"}, "POPULACE_CACHE_MODE"),
        ({"backend": "openai"}, "POPULACE_MODEL"),
        ({"concurrency": 0}, "--concurrency or POPULACE_CONCURRENCY"),
        ({"timeout": -1.0}, "--timeout or POPULACE_TIMEOUT"),
        ({"max_retries": -1}, "--max-retries or POPULACE_MAX_RETRIES"),
        ({"rpm": 0}, "--rpm or POPULACE_RPM"),
        ({"tpm": -5}, "--tpm or POPULACE_TPM"),
        ({"server_kind": "tgi"}, "--server-kind or POPULACE_SERVER_KIND"),
        ({"top_logprobs": -1}, "--top-logprobs or POPULACE_TOP_LOGPROBS"),
        ({"samples": -1}, "--samples or POPULACE_SAMPLES"),
        ({"max_calls": -1}, "--max-calls"),
    ],
)
def test_config_validation(kwargs, match):
    from populace_lm.backends import get_backend
    from populace_lm.errors import ConfigError

    openai_options = {o.name for o in get_backend("openai").options} - {"model"}
    if set(kwargs) & openai_options:  # an endpoint option: validated in the openai backend's section
        kwargs = {"backend": "openai", "model": "m", **kwargs}
    with pytest.raises(ConfigError, match=match):
        LLMConfig(**kwargs)
    with pytest.raises(ValueError, match="unknown LLMConfig keys"):
        LLMConfig.from_dict({"backend": "local", "colour": "red"})


def test_each_backend_takes_only_its_own_section():
    from populace_lm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"backend 'local' has no option 'timeout'; its options: model_path, "):
        LLMConfig(timeout=5.0)
    with pytest.raises(ConfigError, match="backend 'openai' has no option 'n_threads'"):
        LLMConfig(backend="openai", model="m", n_threads=2)
    with pytest.raises(ConfigError, match=r"unknown backend 'gpt': registered backends are local, openai"):
        LLMConfig(backend="gpt")
    local = LLMConfig(n_threads=2)
    assert local.options == {"model_path": None, "compute_type": None, "n_threads": 2}
    assert local.n_threads == 2 and local.to_dict()["local"] == local.options
    with pytest.raises(AttributeError, match="backend 'local' has no option or field 'timeout'"):
        local.timeout  # noqa: B018
    remote = LLMConfig(backend="openai", options={"model": "m"}, rpm=30)
    assert (remote.model, remote.rpm, remote.timeout, remote.concurrency) == ("m", 30, 60.0, 4)  # defaults filled
    assert LLMConfig.from_dict(remote.to_dict()) == remote and hash(LLMConfig.from_dict(remote.to_dict())) == hash(
        remote
    )
    env = {"POPULACE_TIMEOUT": "9", "POPULACE_THREADS": "3"}  # only the chosen backend's variables are read
    assert LLMConfig.from_env(env).options["n_threads"] == 3
    assert LLMConfig.from_env(env, backend="openai", model="m").timeout == 9.0


def test_build_model_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret")
    cfg = LLMConfig(
        backend="openai",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        api_key_env="MY_KEY",
        cache_path=str(tmp_path / "c.sqlite"),
        max_calls=3,
    )
    model = build_model(cfg)
    assert isinstance(model, CachedModel)
    assert isinstance(model.inner, AccountingModel)
    assert isinstance(model.inner.inner, BudgetedModel)
    assert isinstance(model.inner.inner.inner, OpenAICompatible)
    assert find_layer(model, BudgetedModel).max_calls == 3
    assert find_layer(model, BudgetedModel).counts_attempts
    assert model.model_id == "openai-compatible/v2:http://127.0.0.1:9/v1:m"
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(AuthenticationError, match="set MY_KEY"):
        build_model(cfg)


def test_config_limits_from_env_and_flags_names(tmp_path):
    env = {
        "POPULACE_TIMEOUT": "2.5",
        "POPULACE_MAX_RETRIES": "3",
        "POPULACE_CONCURRENCY": "16",
        "POPULACE_RPM": "600",
        "POPULACE_TPM": "90000",
        "POPULACE_SERVER_KIND": "vllm",
        "POPULACE_TOP_LOGPROBS": "5",
        "POPULACE_SAMPLES": "0",
        "POPULACE_VERBOSE": "yes",
        "POPULACE_CHAT_TEMPLATE": "/models/m.gguf",
    }
    cfg = LLMConfig.from_env({**env, "POPULACE_BACKEND": "openai", "POPULACE_MODEL": "m"}, concurrency=8)
    assert (cfg.timeout, cfg.max_retries, cfg.concurrency, cfg.rpm, cfg.tpm) == (2.5, 3, 8, 600.0, 90000.0)
    assert (cfg.server_kind, cfg.top_logprobs, cfg.samples, cfg.verbose) == ("vllm", 5, 0, True)
    assert cfg.chat_template == "/models/m.gguf"
    assert LLMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="POPULACE_TIMEOUT='soon' is not a number"):
        LLMConfig.from_env({"POPULACE_TIMEOUT": "soon", "POPULACE_BACKEND": "openai"})
    with pytest.raises(ValueError, match="POPULACE_VERBOSE='maybe' is not a boolean"):
        LLMConfig.from_env({"POPULACE_VERBOSE": "maybe"})


def test_build_model_passes_limits_and_summary_is_json(tmp_path, monkeypatch):
    import json

    from populace_lm.config import close_model

    monkeypatch.setenv("MY_KEY", "sk-secret-xyz")
    cfg = LLMConfig(
        backend="openai",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        api_key_env="MY_KEY",
        cache_path=str(tmp_path / "c.sqlite"),
        timeout=3.0,
        max_retries=2,
        concurrency=5,
        rpm=60,
        server_kind="llamacpp",
        top_logprobs=7,
        samples=11,
    )
    model = build_model(cfg)
    backend = find_layer(model, OpenAICompatible)
    assert (backend.timeout, backend.retry.max_retries, backend.concurrency, backend.kind) == (3.0, 2, 5, "llamacpp")
    assert (backend.top_logprobs, backend.samples, backend._rate.rpm) == (7, 11, 60)
    assert model.model_id.endswith(":m:top7:n11")
    summary = find_layer(model, AccountingModel).summary()
    text = json.dumps(summary)
    assert "sk-secret" not in text
    assert summary["run"]["requests_sent"] == 0 and summary["backend"]["server_kind"] == "llamacpp"
    assert summary["cache"] == {k: 0 for k in summary["cache"]}
    close_model(model)
    close_model(model)  # twice is fine
    assert model.mode == "off"


def test_summary_counts_cache_hits_and_local_requests(tmp_path):
    inner = ScriptedModel(lambda r: str(1 + r.seed % 5))
    acct = AccountingModel(BudgetedModel(inner))
    model = CachedModel(acct, tmp_path / "c.sqlite")
    for seed in (0, 1, 0, 0):
        model.generate(gen(seed))
    run = acct.summary()["run"]
    assert (run["requests_sent"], run["successes"], run["failures"], run["cache_hits"]) == (2, 2, 0, 2)
    assert run["retries"] == {} and run["wall_s"] > 0
    from populace_lm.accounting import format_summary

    assert format_summary(acct.summary()).startswith("2 requests sent, 2 ok, 0 retried, 0 failed, 2 cache hits")


def test_token_bucket_paces_with_a_fake_clock():
    from populace_lm.ratelimit import RateLimiter, TokenBucket

    now = [0.0]

    def sleep(dt):
        now[0] += dt

    bucket = TokenBucket(2.0, 2.0, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]  # a full bucket: a burst of its capacity
    assert waits[2:] == pytest.approx([0.5] * 4)  # then the refill rate, 2 per second
    assert now[0] == pytest.approx(2.0)
    big = bucket.acquire(5.0)  # larger than the capacity: waits for a full bucket, then owes the rest
    assert big == pytest.approx(1.0) and bucket.acquire() == pytest.approx(2.0)

    limiter = RateLimiter(rpm=120, tpm=600, clock=lambda: now[0], sleep=sleep)  # 2 req/s, 10 tokens/s
    assert limiter.acquire(10) == 0.0
    assert limiter.acquire(10) == pytest.approx(1.0)  # the token bucket binds
    limiter.settle(10, 2)  # the reply was smaller than estimated: 8 tokens come back
    assert limiter.acquire(8) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="--tpm"):
        RateLimiter(tpm=0)


def test_cli_flags_map_onto_the_config(tmp_path, monkeypatch):
    import argparse

    from experiments.common import add_model_args, model_from_args
    from populace_lm.config import close_model

    monkeypatch.setenv("MY_KEY", "none")
    monkeypatch.setenv("POPULACE_MAX_RETRIES", "4")  # an environment twin, overridden by nothing
    monkeypatch.setenv("POPULACE_TIMEOUT", "99")  # overridden by --timeout
    parser = argparse.ArgumentParser()
    add_model_args(parser)
    args = parser.parse_args(
        [
            "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--api-key-env", "MY_KEY",
            "--cache", str(tmp_path / "c.sqlite"), "--timeout", "7", "--concurrency", "3", "--rpm", "30",
            "--tpm", "5000", "--server-kind", "vllm", "--top-logprobs", "10", "--samples", "0", "--max-calls", "9",
        ]
    )  # fmt: skip
    model = model_from_args(args)
    backend = find_layer(model, OpenAICompatible)
    assert (backend.timeout, backend.retry.max_retries, backend.concurrency) == (7.0, 4, 3)
    assert (backend._rate.rpm, backend._rate.tpm, backend.kind, backend.top_logprobs, backend.samples) == (
        30.0,
        5000.0,
        "vllm",
        10,
        0,
    )
    assert find_layer(model, BudgetedModel).max_calls == 9
    from populace_lm.config import concurrency_of

    assert concurrency_of(model) == 3 and concurrency_of(CachedModel(ScriptedModel(["1"]), tmp_path / "x.sqlite")) == 1
    close_model(model)
    with pytest.raises(SystemExit):
        parser.parse_args(["--server-kind", "tgi"])


def test_chat_template_from_a_jinja_file_and_errors(tmp_path):
    from populace_lm.errors import ModelNotFoundError
    from populace_lm.templates import load_chat_template

    path = tmp_path / "t.jinja"
    path.write_text(
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[a] {% endif %}"
    )
    template = load_chat_template(path)
    assert template.render(USER) == "[user] Pick a number.\n[a] "
    assert len(template.digest) == 12
    with pytest.raises(ModelNotFoundError, match="--chat-template .* is not a file"):
        load_chat_template(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotFoundError, match="--chat-template .* is not a file"):
        load_chat_template(tmp_path)
