"""Language-model backends as plugins: a registry of factories, each with its own typed option section.

A backend is a name, a factory and the options only it takes. The built-in ``local`` (embedded llama.cpp) and
``openai`` (any OpenAI-compatible endpoint) backends register at the bottom of this module through the same
:func:`register_backend` call a plugin makes, so a new backend is one module and no edit here::

    # my_backend.py, imported through POPULACE_PLUGINS=my_backend
    from populace_lm.backends import BackendOption, register_backend

    register_backend(
        "toy",
        lambda options: ToyModel(bias=options["bias"]),
        [BackendOption("bias", float, default=0.0, env="TOY_BIAS", help="shift of every answer")],
    )

Each option declares its type, default, environment variable, help text and command-line flag:
:class:`populace_lm.config.LLMConfig` reads and validates the section of the chosen backend, and the CLI adds one
argument group per registered backend (``experiments.common.add_model_args``). The factory receives the resolved
section (every option, defaults filled in) plus the common ``verbose`` knob, and returns a
:class:`~populace_lm.base.LanguageModel`; :func:`populace_lm.config.build_model` wraps it in the budget, accounting
and cache layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from populace_lm.base import LanguageModel
from populace_lm.errors import ConfigError
from populace_lm.servers import SERVER_KINDS

__all__ = [
    "COMMON_KEYS",
    "RESERVED_FLAGS",
    "Backend",
    "BackendOption",
    "backend_names",
    "backends",
    "get_backend",
    "register_backend",
]

COMMON_KEYS = frozenset({"backend", "cache_path", "cache_mode", "max_calls", "max_tokens", "verbose"})
"""Knobs every backend shares (:class:`populace_lm.config.LLMConfig` fields); no backend option may take these names."""

RESERVED_FLAGS = frozenset(
    {"--backend", "--cache", "--replay", "--max-calls", "--quiet", "--verbose", "--seed", "--data", "--out", "--help"}
    | {"--executor", "--ray-address", "--ray-workers"}
)
"""Command-line flags of the common knobs and of every command; no backend option may take these flags."""

_TYPES = (str, int, float, bool)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class BackendOption:
    """One typed option of a backend's section.

    Attributes:
        name: the key in the section (and in ``LLMConfig(**{name: value})``), a Python identifier.
        type: ``str``, ``int``, ``float`` or ``bool``; an ``int`` is accepted where a ``float`` is expected.
        default: the value when neither the flag nor the environment variable gives one (``None`` = unset).
        env: environment variable read by :meth:`populace_lm.config.LLMConfig.from_env` (``None`` = none).
        help: one line for ``--help`` (the environment variable and the default are appended).
        flag: command-line flag; ``None`` = ``--`` + the name with dashes; ``""`` = no flag.
        choices: the allowed values, if closed.
        minimum: smallest allowed number (inclusive, or exclusive with ``exclusive=True``).
        exclusive: ``minimum`` itself is not allowed (``> minimum``).
        required: the backend cannot run without a value (an empty string counts as none).
        selects: giving this flag without ``--backend`` selects this backend (as ``--base-url`` selects ``openai``).
        label: how messages name the option (default: the name with spaces), e.g. ``"a model name"``.
        check: extra validation, called with a set value; raises ``ValueError`` with the message to show.
    """

    name: str
    type: type = str
    default: Any = None
    env: str | None = None
    help: str = ""
    flag: str | None = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    exclusive: bool = False
    required: bool = False
    selects: bool = False
    label: str = ""
    check: Callable[[Any], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"backend option name {self.name!r} is not a Python identifier")
        if self.type not in _TYPES:
            raise ConfigError(f"backend option {self.name!r}: type must be one of str, int, float, bool")
        if self.flag is None:
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))
        elif self.flag and not (self.flag.startswith("--") and len(self.flag) > 2):
            raise ConfigError(f"backend option {self.name!r}: flag {self.flag!r} must start with '--'")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def dest(self) -> str | None:
        """The ``argparse`` attribute of the flag (``--model-path`` → ``model_path``), or None without a flag."""
        return self.flag[2:].replace("-", "_") if self.flag else None

    @property
    def where(self) -> str:
        """Where a user sets it: ``"--timeout or POPULACE_TIMEOUT"``."""
        places = [p for p in (self.flag, self.env) if p]
        return " or ".join(places) or self.name

    def parse_env(self, raw: str) -> Any:
        """An environment value as the option's type.

        Raises:
            ConfigError: a value that does not parse, naming the variable.
        """
        text = raw.strip()
        if self.type is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ConfigError(f"{self.env}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")
        try:
            if self.type is int:
                return int(text)
            if self.type is float:
                return float(text)
        except ValueError:
            kind = "an integer" if self.type is int else "a number"
            raise ConfigError(f"{self.env}={raw!r} is not {kind}: fix it or unset it") from None
        return raw

    def validate(self, value: Any, backend: str) -> Any:
        """Return ``value`` when it is valid for this option.

        Raises:
            ConfigError: a wrong type, a value out of range or not among the choices, a missing required value;
                the message names the flag and the environment variable.
        """
        unset = " or unset" if self.default is None and not self.required else ""
        if value is None or (self.required and value == ""):
            if self.required:
                hint = f"pass {self.flag}" if self.flag else f"set {self.name}"
                if self.env:
                    hint += f" (or set {self.env})"
                raise ConfigError(f"backend {backend!r} needs {self.label}: {hint}")
            return None
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"unknown {self.label} {value!r}: use one of {self.choices} ({self.where})")
        if self.type is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name} must be true or false, got {value!r}: fix {self.where}")
        elif self.type is int or self.type is float:
            numeric = (int,) if self.type is int else (int, float)
            kind = "an integer" if self.type is int else "a number"
            bound = ""
            if self.minimum is not None:
                limit = int(self.minimum) if float(self.minimum).is_integer() else self.minimum
                bound = f" {'>' if self.exclusive else '>='} {limit}"
            ok = isinstance(value, numeric) and not isinstance(value, bool)
            if ok and self.minimum is not None:
                ok = value > self.minimum if self.exclusive else value >= self.minimum
            if not ok:
                raise ConfigError(f"{self.name} must be {kind}{bound}{unset}, got {value!r}: fix {self.where}")
        elif not isinstance(value, str):
            raise ConfigError(f"{self.name} must be a string, got {value!r}: fix {self.where}")
        if self.check is not None:
            try:
                self.check(value)
            except ConfigError:
                raise
            except ValueError as exc:
                raise ConfigError(" ".join(str(exc).split())) from None
        return value


@dataclass(frozen=True)
class Backend:
    """A registered backend: its name, factory and option section.

    Attributes:
        name: the ``--backend``/``POPULACE_BACKEND`` value.
        factory: ``factory(options) -> LanguageModel``; ``options`` is the resolved section plus ``verbose``.
        options: the section's typed options, in ``--help`` order.
        help: one line for ``--help``.
    """

    name: str
    factory: Callable[[Mapping[str, Any]], LanguageModel] = field(compare=False)
    options: tuple[BackendOption, ...]
    help: str = ""

    def option(self, name: str) -> BackendOption:
        """The option called ``name``.

        Raises:
            ConfigError: an unknown option, naming this backend's options.
        """
        for option in self.options:
            if option.name == name:
                return option
        known = ", ".join(o.name for o in self.options) or "none"
        raise ConfigError(f"backend {self.name!r} has no option {name!r}; its options: {known}")

    def read_env(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The options set by environment variables (an empty value counts as unset, except for booleans)."""
        values: dict[str, Any] = {}
        for option in self.options:
            raw = environ.get(option.env) if option.env else None
            if raw is None or (raw.strip() == "" and option.type is not bool):
                continue
            values[option.name] = option.parse_env(raw)
        return values

    def resolve(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of the section: ``values`` where given, else the defaults; each one validated.

        Raises:
            ConfigError: an unknown option or an invalid value, in one line.
        """
        for name in values:
            self.option(name)
        return {o.name: o.validate(values.get(o.name, o.default), self.name) for o in self.options}


_REGISTRY: dict[str, Backend] = {}


def register_backend(
    name: str,
    factory: Callable[[Mapping[str, Any]], LanguageModel],
    options: Iterable[BackendOption] = (),
    *,
    help: str = "",
    replace: bool = False,
) -> Backend:
    """Register a backend under ``name`` (a plugin module calls this at import).

    Args:
        name: the ``--backend`` value (letters, digits, ``_`` or ``-``).
        factory: builds the model from the resolved option section (see :class:`Backend`).
        options: the backend's own options.
        help: one line for ``--help``.
        replace: replace a backend registered under the same name (otherwise that is an error).

    Returns:
        The registered :class:`Backend`.

    Raises:
        ConfigError: a bad or taken name, two options with one name or flag, an option that takes a common
            knob's name or flag, or a flag another backend declares with another type.
    """
    if not isinstance(name, str) or not name or not name.replace("-", "_").isidentifier():
        raise ConfigError(f"backend name {name!r}: use letters, digits, '_' or '-'")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"backend {name!r} is registered already; pass replace=True to replace it")
    if not callable(factory):
        raise ConfigError(f"backend {name!r}: the factory must be callable")
    section = tuple(options)
    names: set[str] = set()
    flags: set[str] = set()
    for option in section:
        if not isinstance(option, BackendOption):
            raise ConfigError(f"backend {name!r}: options must be BackendOption, got {type(option).__name__}")
        if option.name in COMMON_KEYS:
            raise ConfigError(f"backend {name!r}: option {option.name!r} is a common knob; rename it")
        if option.flag in RESERVED_FLAGS:
            raise ConfigError(f"backend {name!r}: flag {option.flag} is a common option; pick another flag")
        if option.name in names or (option.flag and option.flag in flags):
            raise ConfigError(f"backend {name!r}: option {option.name!r} (flag {option.flag}) is declared twice")
        names.add(option.name)
        if option.flag:
            flags.add(option.flag)
        for other in _REGISTRY.values():
            if other.name == name:
                continue
            for theirs in other.options:
                if (
                    option.flag
                    and theirs.flag == option.flag
                    and (theirs.type, theirs.choices)
                    != (
                        option.type,
                        option.choices,
                    )
                ):
                    raise ConfigError(
                        f"backend {name!r}: flag {option.flag} is backend {other.name!r}'s with another type; "
                        "pick another flag"
                    )
    backend = Backend(name=name, factory=factory, options=section, help=help)
    _REGISTRY[name] = backend
    return backend


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises:
        ConfigError: an unknown name, in one line listing the registered ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown backend {name!r}: registered backends are {', '.join(backend_names())} "
            "(--backend or POPULACE_BACKEND; a plugin registers more through POPULACE_PLUGINS)"
        ) from None


def backend_names() -> tuple[str, ...]:
    """Names of the registered backends, in registration order (built-ins first)."""
    return tuple(_REGISTRY)


def backends() -> tuple[Backend, ...]:
    """The registered backends, in registration order."""
    return tuple(_REGISTRY.values())


# ------------------------------------------------------------------------------------------------ built-ins


def _local(options: Mapping[str, Any]) -> LanguageModel:
    from populace_lm.local import LocalLlama  # lazy: loads llama.cpp only when asked for

    return LocalLlama(
        options["model_path"],
        n_threads=options["n_threads"],
        compute_type=options["compute_type"],
        verbose=bool(options.get("verbose", False)),
    )


def _openai(options: Mapping[str, Any]) -> LanguageModel:
    from populace_lm.openai_compat import OpenAICompatible  # lazy: imports the openai client only when asked for

    template = None
    if options["chat_template"]:
        from populace_lm.templates import load_chat_template

        template = load_chat_template(options["chat_template"])
    return OpenAICompatible(
        model=options["model"],
        base_url=options["base_url"],
        api_key_env=options["api_key_env"],
        timeout=options["timeout"],
        max_retries=options["max_retries"],
        retry_budget=options["retry_budget"],
        concurrency=options["concurrency"],
        rpm=options["rpm"],
        tpm=options["tpm"],
        rate_scope=options["rate_scope"],
        server_kind=options["server_kind"],
        top_logprobs=options["top_logprobs"],
        samples=options["samples"],
        chat_template=template,
    )


def _check_base_url(value: str) -> None:
    from populace_lm.endpoints import parse_endpoints

    parse_endpoints(value)


def _check_compute_type(value: str) -> None:
    from populace_lm.convert import check_compute_type

    check_compute_type(value)


register_backend(
    "local",
    _local,
    [
        BackendOption(
            "model_path",
            str,
            env="POPULACE_MODEL_PATH",
            help="GGUF file for the local backend; unset = the embedded SmolLM2-135M",
        ),
        BackendOption(
            "compute_type",
            str,
            env="POPULACE_COMPUTE_TYPE",
            choices=("native", "f16", "f32"),
            check=_check_compute_type,
            help="local weights as stored (native, default) or converted once to f16/f32",
        ),
        BackendOption(
            "n_threads",
            int,
            env="POPULACE_THREADS",
            flag="--threads",
            minimum=1,
            help="llama.cpp threads for the local backend; unset = every core",
        ),
    ],
    help="embedded llama.cpp (the default)",
)

register_backend(
    "openai",
    _openai,
    [
        BackendOption(
            "base_url",
            str,
            env="POPULACE_BASE_URL",
            selects=True,
            check=_check_base_url,
            help="OpenAI-compatible endpoint URL (vLLM, Ollama, llama.cpp server); several replicas of one model: "
            "URL1,URL2,... or a file of URLs (one per line, optional rpm=N tpm=N); least-outstanding routing",
        ),
        BackendOption(
            "model",
            str,
            env="POPULACE_MODEL",
            required=True,
            selects=True,
            label="a model name",
            help="model name at the endpoint",
        ),  # fmt: skip
        BackendOption("api_key_env", str, default="OPENAI_API_KEY", help="environment variable holding the key"),
        BackendOption(
            "timeout",
            float,
            default=60.0,
            env="POPULACE_TIMEOUT",
            minimum=0,
            exclusive=True,
            help="seconds per HTTP request",
        ),  # fmt: skip
        BackendOption(
            "retry_budget",
            float,
            default=300.0,
            env="POPULACE_RETRY_BUDGET",
            minimum=0,
            help="seconds a request is retried after a 429/5xx/timeout/connection error/bad body, from its first "
            "attempt (an outage shorter than this does not end the run)",
        ),
        BackendOption(
            "max_retries",
            int,
            env="POPULACE_MAX_RETRIES",
            minimum=0,
            help="optional cap on the retries per request, besides --retry-budget; unset = no cap",
        ),
        BackendOption(
            "concurrency", int, default=4, env="POPULACE_CONCURRENCY", minimum=1, help="requests in flight at once"
        ),
        BackendOption(
            "rpm", float, env="POPULACE_RPM", minimum=0, exclusive=True, help="client-side requests-per-minute limit"
        ),
        BackendOption(
            "tpm", float, env="POPULACE_TPM", minimum=0, exclusive=True, help="client-side tokens-per-minute limit"
        ),
        BackendOption(
            "rate_scope",
            str,
            default="global",
            env="POPULACE_RATE_SCOPE",
            choices=("global", "endpoint"),
            help="--rpm/--tpm bound the whole fleet (global) or each endpoint of --base-url (endpoint)",
        ),
        BackendOption(
            "server_kind",
            str,
            default="auto",
            env="POPULACE_SERVER_KIND",
            choices=SERVER_KINDS,
            help="how the endpoint continues answer stems; auto detects it from /v1/models",
        ),
        BackendOption(
            "top_logprobs",
            int,
            default=20,
            env="POPULACE_TOP_LOGPROBS",
            minimum=0,
            help="log-probability alternatives read per answer token; 0 = always sample",
        ),
        BackendOption(
            "samples",
            int,
            env="POPULACE_SAMPLES",
            minimum=0,
            help="replies per sampled distribution when log-probabilities do not cover the answers; 0 = never sample",
        ),
        BackendOption(
            "chat_template",
            str,
            env="POPULACE_CHAT_TEMPLATE",
            help="the model's .gguf file (or a Jinja template) so a server without a continue switch continues "
            "answer stems through /completions",
        ),
    ],
    help="any OpenAI-compatible endpoint",
)
