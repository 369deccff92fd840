"""Many endpoints behind one client: URL lists, least-outstanding routing, health, per-endpoint counts and limits.

The fleet drill runs three fault-injecting loopback servers, each in a process of its own, and kills one of them
in the middle of a run: the run finishes, every answer is right, and the client's per-endpoint counts equal the
servers' own counters.
"""

import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
import urllib.request
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from populace_lm.budget import AccountingModel, find_layer, map_concurrent
from populace_lm.config import LLMConfig, build_model, close_model
from populace_lm.endpoints import EndpointPool, EndpointSpec, parse_endpoints
from populace_lm.errors import ConfigError
from populace_lm.openai_compat import OpenAICompatible
from populace_lm.types import DistributionRequest, GenerationRequest, Message
from tests.populace_lm.loopback_server import FaultMix, FaultyHandler, LoopbackServer, Reply, chat_completion
from tests.populace_lm.test_faults import expected, survey_requests, truth

# -- the URL list ------------------------------------------------------------------------------------------------


def test_a_comma_list_and_a_file_of_urls_with_their_own_limits(tmp_path):
    assert [e.url for e in parse_endpoints("http://a:1/v1")] == ["http://a:1/v1"]
    specs = parse_endpoints(" http://a:8000/v1 ,https://b.example/v1/ ")
    assert specs == (EndpointSpec("http://a:8000/v1"), EndpointSpec("https://b.example/v1"))
    urls = tmp_path / "fleet.txt"
    urls.write_text("# the fleet\nhttp://gpu1:8000/v1  rpm=600\n\nhttp://gpu2:8000/v1 rpm=60 tpm=9000  # slow one\n")
    assert parse_endpoints(str(urls)) == (
        EndpointSpec("http://gpu1:8000/v1", rpm=600.0),
        EndpointSpec("http://gpu2:8000/v1", rpm=60.0, tpm=9000.0),
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("http://a:1/v1,,http://b:1/v1", r"entry 2 is empty.*--base-url"),
        ("http://a:1/v1,ftp://b/v1", r"entry 2: 'ftp://b/v1' is not an http\(s\) URL.*fix --base-url"),
        ("http://a:1/v1,http://a:1/v1/", r"entry 2: http://a:1/v1 is listed twice \(also --base-url entry 1\)"),
        ("http://a:port/v1", r"entry 1: 'http://a:port/v1' has a port that is not a number"),
    ],
)
def test_a_bad_entry_in_a_url_list_is_one_line_naming_it(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_endpoints(spec)


def test_a_bad_line_in_a_url_file_names_the_file_and_line(tmp_path):
    urls = tmp_path / "fleet.txt"
    urls.write_text("http://gpu1:8000/v1\ngpu2:8000\n")
    with pytest.raises(ConfigError, match=rf"{urls} line 2: 'gpu2:8000' is not an http\(s\) URL.*--base-url"):
        parse_endpoints(str(urls))
    urls.write_text("http://gpu1:8000/v1 rpm=fast\n")
    with pytest.raises(ConfigError, match=r"line 1: rpm must be a number > 0, got 'fast'"):
        parse_endpoints(str(urls))
    urls.write_text("http://gpu1:8000/v1 weight=2\n")
    with pytest.raises(ConfigError, match=r"line 1: unknown setting 'weight=2'"):
        parse_endpoints(str(urls))
    urls.write_text("# nothing\n")
    with pytest.raises(ConfigError, match=r"lists no URL"):
        parse_endpoints(str(urls))


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5})?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(hosts, st.integers(1, 65535), st.sampled_from(["http", "https"])), min_size=1, max_size=6))
def test_any_list_of_distinct_urls_reads_back_in_order(entries):
    urls = list(dict.fromkeys(f"{scheme}://{host}:{port}/v1" for host, port, scheme in entries))
    assert [e.url for e in parse_endpoints(",".join(urls))] == urls


# -- routing and health ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def pool_of(n, clock, **kw):
    return EndpointPool(tuple(EndpointSpec(f"http://e{i}:1/v1") for i in range(n)), lambda url: url, clock=clock, **kw)


def test_each_attempt_goes_to_the_endpoint_with_the_fewest_outstanding():
    pool = pool_of(3, Clock())
    first = [pool.acquire() for _ in range(3)]
    assert sorted(e.url for e in first) == [f"http://e{i}:1/v1" for i in range(3)]  # one each
    pool.release(first[1], "ok")
    assert pool.acquire() is first[1]  # now the least loaded
    for _ in range(31):  # 3 - 1 + 1 + 31 = 34 in flight: spread evenly
        pool.acquire()
    assert sorted(e.outstanding for e in pool.endpoints) == [11, 11, 12]


def test_a_failing_endpoint_leaves_rotation_is_probed_after_its_cooldown_and_comes_back():
    clock = Clock()
    pool = pool_of(2, clock, eject_after=3, cooldown_s=2.0, max_cooldown_s=8.0)
    sick, well = pool.endpoints
    for _ in range(3):
        sick.outstanding += 1
        pool.release(sick, "connection")
    assert sick.ejected_until == clock.now + 2.0
    assert all(pool.acquire() is well for _ in range(5))  # out of rotation
    clock.now += 2.5
    probe = pool.acquire()  # the healthy one is busy: the cooled-down one gets a single probe
    assert probe is sick and sick.probing and pool.acquire() is well
    pool.release(sick, "timeout")  # the probe fails: out again, cooldown doubled
    assert sick.ejected_until == clock.now + 4.0 and sick.counts["ejections"] == 2
    clock.now += 4.5
    assert pool.acquire() is sick
    pool.release(sick, "ok")  # back in rotation
    assert sick.ejected_until is None and sick.consecutive_failures == 0
    snap = {s["url"]: s for s in pool.snapshot()}
    assert snap["http://e0:1/v1"]["state"] == "in rotation" and snap["http://e0:1/v1"]["probes"] == 2
    # HTTP 429 never ejects: the server is busy, not sick
    for _ in range(10):
        well.outstanding += 1
        pool.release(well, "429")
    assert well.ejected_until is None


def test_when_every_endpoint_is_out_the_one_back_soonest_is_tried():
    clock = Clock()
    pool = pool_of(2, clock, eject_after=1, cooldown_s=5.0)
    a, b = pool.endpoints
    a.outstanding += 1
    pool.release(a, "5xx")
    clock.now += 1
    b.outstanding += 1
    pool.release(b, "5xx")
    assert pool.acquire() is a


def test_a_retry_moves_to_another_endpoint():
    with (
        LoopbackServer(lambda b, n: Reply(503, {"error": {"message": "down"}})) as down,
        LoopbackServer(lambda b, n: Reply(200, chat_completion("ok"))) as up,
    ):
        model = OpenAICompatible(
            model="m",
            base_url=f"{down.base_url},{up.base_url}",
            api_key="none",
            server_kind="openai",
            initial_backoff=0.001,
            max_backoff=0.005,
        )
        user = (Message(role="user", content="hi"),)
        texts = [model.generate(GenerationRequest(messages=user, seed=i)).text for i in range(6)]
        assert texts == ["ok"] * 6
        endpoints = {e["url"]: e for e in model.describe()["endpoints"]}
        assert endpoints[down.base_url]["faults"]["5xx"] == down.count >= 1
        assert endpoints[up.base_url]["successes"] == up.count == 6
        assert model.model_id == "openai-compatible/v2:fleet:m"  # the same id whatever the URLs
        model.close()


def test_rate_limits_bound_the_fleet_or_each_endpoint():
    def timed(scope):
        with (
            LoopbackServer(lambda b, n: Reply(200, chat_completion("ok"))) as a,
            LoopbackServer(lambda b, n: Reply(200, chat_completion("ok"))) as b,
        ):
            model = OpenAICompatible(
                model="m",
                base_url=f"{a.base_url},{b.base_url}",
                api_key="none",
                server_kind="openai",
                rpm=120,  # 2 per second, bursts of 2
                rate_scope=scope,
                concurrency=4,
            )
            user = (Message(role="user", content="hi"),)
            requests = [GenerationRequest(messages=user, seed=i) for i in range(8)]
            start = time.perf_counter()
            map_concurrent(model, requests, max_workers=4)
            elapsed = time.perf_counter() - start
            info = model.describe()
            model.close()
            return elapsed, info

    fleet, info = timed("global")
    each, _ = timed("endpoint")
    assert fleet >= 2.5  # 8 requests at 2/s after a burst of 2
    assert each <= 0.75 * fleet  # twice the allowance
    assert info["rate_scope"] == "global" and info["rpm"] == 120


# -- the fleet drill: three servers, one killed mid-run ----------------------------------------------------------


class Freezable:
    """A fault-injecting handler that, once ``frozen`` is set, holds every new request forever (until killed)."""

    def __init__(self, mix, frozen):
        self.inner = FaultyHandler(truth, mix)
        self.frozen = frozen

    @property
    def counters(self):
        return self.inner.counters

    def __call__(self, body, n):
        if self.frozen.is_set():
            self.inner.counters["held"] += 1
            time.sleep(3600)
        return self.inner(body, n)


def _serve(mix, frozen, conn):
    server = LoopbackServer(Freezable(mix, frozen)).start()
    conn.send(server.base_url)
    while True:
        time.sleep(3600)


def counters(base_url):
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/counters", timeout=10) as fh:
        return Counter({k: int(v) for k, v in json.load(fh).items()})


@contextlib.contextmanager
def server_processes(mixes):
    ctx = multiprocessing.get_context("fork")
    procs, urls, events = [], [], []
    try:
        for mix in mixes:
            frozen = ctx.Event()
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(mix, frozen, child), daemon=True)
            proc.start()
            procs.append(proc)
            events.append(frozen)
            urls.append(parent.recv())
        yield procs, urls, events
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=10)


def test_three_endpoints_one_killed_mid_run_finish_with_counts_equal_to_the_servers(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "none")
    mixes = [FaultMix(p429=0.1, p500=0.05, garbage=0.03, reset=0.02, latency=0.01, seed=s) for s in (1, 2, 3)]
    requests = survey_requests(600)
    with server_processes(mixes) as (procs, urls, events):
        model = build_model(
            LLMConfig(
                backend="openai",
                model="loopback",
                base_url=",".join(urls),
                api_key_env="LOOPBACK_KEY",
                cache_path=str(tmp_path / "cache.sqlite"),
                server_kind="openai",
                timeout=5.0,
                concurrency=8,
                retry_budget=60.0,
            )
        )
        results: list = []
        failure: list = []

        def work():
            try:
                results.extend(map_concurrent(model, requests, max_workers=8))
            except BaseException as exc:  # noqa: BLE001 — reported below
                failure.append(exc)

        runner = threading.Thread(target=work)
        runner.start()
        victim = 2
        deadline = time.monotonic() + 60
        while counters(urls[victim])["ok"] < 10 and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.is_alive(), "the run ended before the kill: make it longer"
        events[victim].set()  # hold whatever arrives from now on, so the last counters read are final
        time.sleep(0.3)
        final = counters(urls[victim])
        os.kill(procs[victim].pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive() and not failure, failure
        summary = find_layer(model, AccountingModel).summary()
        close_model(model)
        served = [counters(u) for u in urls[:victim]] + [final]

    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        assert result.method == "exact"
        assert result.probs == pytest.approx(expected(request)[0], abs=1e-12)
    endpoints = {e["url"]: e for e in summary["backend"]["endpoints"]}
    assert list(endpoints) == urls
    for url, server in zip(urls, served, strict=True):
        client = endpoints[url]
        assert client["successes"] == server["ok"], url
        assert client["faults"]["429"] == server["429"] and client["faults"]["5xx"] == server["500"], url
        assert client["faults"]["bad_body"] == server["garbage"], url
        assert client["outstanding"] == 0
    for url, server in zip(urls[:victim], served[:victim], strict=True):  # the survivors: every count equal
        client = endpoints[url]
        assert client["requests_sent"] == server["received"], url
        assert client["faults"]["connection"] == server["reset"] and client["faults"]["timeout"] == 0, url
    dead = endpoints[urls[victim]]
    # the victim's attempts it never answered (held then cut by the kill, or refused after it) and the resets it
    # injected are its connection faults: nothing else went missing
    assert dead["requests_sent"] - final["received"] + final["reset"] == dead["faults"]["connection"]
    assert dead["ejections"] >= 1 and dead["state"] != "in rotation"
    assert sum(s["ok"] for s in served) == summary["run"]["successes"] == len(requests)
    assert sum(e["requests_sent"] for e in endpoints.values()) == summary["run"]["requests_sent"]
    assert summary["run"]["failures"] == 0


# -- the command line ------------------------------------------------------------------------------------------


def test_a_bad_url_in_the_list_is_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    from experiments.cli import main

    monkeypatch.setenv("LOOPBACK_KEY", "none")
    out = tmp_path / "run"
    cache = tmp_path / "cache.sqlite"
    code = main(
        [
            "run",
            "--population",
            "fixed",
            "--scenario",
            "bigfive:E",
            "--agents",
            "3",
            "--base-url",
            "http://127.0.0.1:9/v1,127.0.0.1:10/v1",
            "--model",
            "m",
            "--api-key-env",
            "LOOPBACK_KEY",
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "entry 2: '127.0.0.1:10/v1' is not an http(s) URL" in err[0] and "fix --base-url" in err[0]
    assert not out.exists() and not cache.exists()


def test_a_distribution_over_a_fleet_is_the_same_as_over_one_endpoint(tmp_path):
    request = DistributionRequest(
        messages=(Message(role="user", content="Statement 3: rate it from 1 to 5."),),
        answers=survey_requests(1)[0].answers,
    )
    with LoopbackServer(truth) as a, LoopbackServer(truth) as b:
        one = OpenAICompatible(model="m", base_url=a.base_url, api_key="none", server_kind="openai")
        two = OpenAICompatible(model="m", base_url=f"{a.base_url},{b.base_url}", api_key="none", server_kind="openai")
        assert one.answer_distribution(request).probs == two.answer_distribution(request).probs
        one.close()
        two.close()
