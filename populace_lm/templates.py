"""A model's chat template for servers that cannot continue an assistant message (``--chat-template``).

llama-cpp-python's server (and the OpenAI API, Ollama) start a *new* assistant turn after a trailing assistant
message, so an answer stem sent that way is not continued. Their raw ``/completions`` endpoint continues any text,
though: given the model's chat template, :class:`~populace_lm.openai_compat.OpenAICompatible` renders the chat
itself and sends the rendered prompt plus the stem there — the same prompt the embedded backend evaluates.

The template comes from a GGUF file (``tokenizer.chat_template`` in its metadata, read by llama.cpp without loading
the weights) or from a Jinja text file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from populace_lm.errors import ModelNotFoundError
from populace_lm.local import ChatTemplate

__all__ = ["load_chat_template"]


def load_chat_template(path: str | os.PathLike[str]) -> ChatTemplate:
    """Load the chat template of a GGUF model file, or a Jinja template file.

    The returned template has a ``digest`` attribute (sha256 prefix of the template and its special tokens), so a
    model id can name it.

    Raises:
        ModelNotFoundError: the path is not a file, or a GGUF file holds no chat template (naming ``--chat-template``).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelNotFoundError(
            f"--chat-template {p} is not a file: pass the model's .gguf file or a Jinja chat-template file"
        )
    bos = eos = ""
    if p.suffix.lower() == ".gguf":
        from llama_cpp import Llama  # reads the metadata and vocabulary only

        llm = Llama(model_path=str(p), vocab_only=True, verbose=False)
        try:
            source = llm.metadata.get("tokenizer.chat_template")

            def piece(token: int) -> str:
                return "" if token < 0 else llm.detokenize([token], special=True).decode("utf-8", errors="replace")

            bos, eos = piece(llm.token_bos()), piece(llm.token_eos())
        finally:
            llm.close()
        if not source:
            raise ModelNotFoundError(f"{p} holds no chat template (tokenizer.chat_template): pass a Jinja file instead")
    else:
        source = p.read_text(encoding="utf-8")
    template = ChatTemplate(source, bos_token=bos, eos_token=eos)
    template.digest = hashlib.sha256(f"{source}\0{bos}\0{eos}".encode()).hexdigest()[:12]  # type: ignore[attr-defined]
    return template
