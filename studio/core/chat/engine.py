"""Streaming, cancellable chat generation with the model's own chat template and end of turn.

`ChatEngine(model, tokenizer).reply(messages, settings, on_chunk=..., cancel=...)` builds the
prompt with the tokenizer's chat template, runs `model.generate` in the calling thread (the app
calls it from a worker QThread, the CLI from the main thread) and hands each new piece of text to
`on_chunk` as soon as its token is sampled. A `threading.Event` set from any thread stops the
reply after the token being computed (a StoppingCriteria checks it after every token).

Why `generate` + a streamer rather than an own loop: `generate` is the code every user of
transformers runs, with its caches and samplers; the streamer adds only an incremental decode
per token, so streaming keeps >= 0.9x the tokens/s of a bare `generate` (bench/chat.py).

Generation stops at any of `end_of_turn_ids`: the generation config's EOS, the tokenizer's EOS,
and the special token the chat template writes after an assistant turn. Models whose
generation_config lacks the last one are the models that "never stop talking" after tuning.

torch / transformers are imported inside functions: the UI imports this module's dataclasses.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from studio.core.errors import UserError, first_line

ROLES = ("system", "user", "assistant")
FALLBACK_NOTE = ("this model has no chat template; using a plain 'User: / Assistant:' prompt "
                 "(answers of a base model may run on until the token limit)")


@dataclass(frozen=True)
class GenSettings:
    """How to sample a reply. temperature 0 = greedy (deterministic)."""
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    max_new_tokens: int = 256
    min_new_tokens: int = 0          # > 0 forces a length (benchmarks): EOS is masked until then
    seed: Optional[int] = None       # None: a fresh random reply each time
    logprobs: bool = False           # per-token log-probs + top alternatives (probability view)
    top_alternatives: int = 5

    def check(self) -> "GenSettings":
        from studio.core.config import INT_LIMIT, check_number

        # finite and of a size generate() accepts first; then what each value means
        check_number("temperature", self.temperature, 0, 100, UserError)
        check_number("top_p", self.top_p, 0, 1, UserError)
        check_number("top_k", self.top_k, 0, INT_LIMIT, UserError)
        check_number("repetition_penalty", self.repetition_penalty, 0, 100, UserError)
        check_number("max_new_tokens", self.max_new_tokens, 1, INT_LIMIT, UserError)
        if self.seed is not None:
            check_number("seed", self.seed, -2**63, 2**64 - 1, UserError)
        if self.temperature < 0:
            raise UserError(f"temperature must be >= 0 (0 = greedy); got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1]; got {self.top_p}")
        if self.top_k < 0:
            raise UserError(f"top_k must be >= 0 (0 = off); got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise UserError(f"repetition_penalty must be > 0 (1 = off); "
                            f"got {self.repetition_penalty}")
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be >= 1; got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise UserError("min_new_tokens must be between 0 and max_new_tokens")
        return self


@dataclass(frozen=True)
class Chunk:
    """New text of a reply and the tokens that made it (one token, or several when a character
    spans tokens). logprob: the model's log-probability of these tokens (sum; before temperature
    and top-p), alternatives: the most likely (text, logprob) at the chunk's first token. Both
    None unless GenSettings.logprobs."""
    text: str
    token_ids: tuple[int, ...]
    logprob: Optional[float] = None
    alternatives: Optional[tuple[tuple[str, float], ...]] = None


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: int                       # new tokens sampled (the end-of-turn token included)
    stop_reason: str                  # eos | length | cancelled
    first_token_s: float              # seconds from the call to the first token
    seconds: float
    prompt_tokens: int
    chunks: tuple[Chunk, ...] = ()

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Conversation:
    """The history of one chat: an optional system prompt and alternating turns."""
    system: str = ""
    turns: list[dict] = field(default_factory=list)

    def messages(self, user: Optional[str] = None) -> list[dict]:
        out = [{"role": "system", "content": self.system}] if self.system.strip() else []
        out += self.turns
        if user is not None:
            out.append({"role": "user", "content": user})
        return out

    def add(self, user: str, assistant: str) -> None:
        self.turns += [{"role": "user", "content": user},
                       {"role": "assistant", "content": assistant}]

    def reset(self) -> None:
        self.turns.clear()


# --- prompt and end of turn ----------------------------------------------------------------------

def _check_messages(messages: Sequence[dict]) -> None:
    if not messages or messages[-1].get("role") != "user":
        raise UserError("a chat prompt must end with a user message")
    for m in messages:
        if m.get("role") not in ROLES:
            raise UserError(f"unknown chat role {m.get('role')!r}; use system, user or assistant")
        if not isinstance(m.get("content"), str):
            raise UserError("every chat message needs text content")


def _fallback_prompt(messages: Sequence[dict]) -> str:
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    parts = [f"{names[m['role']]}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def build_prompt_ids(tokenizer: Any, messages: Sequence[dict]) -> list[int]:
    """Token ids of the prompt: the chat template with the assistant's opening added."""
    _check_messages(messages)
    if not getattr(tokenizer, "chat_template", None):
        return list(tokenizer(_fallback_prompt(messages))["input_ids"])
    try:
        text = tokenizer.apply_chat_template(list(messages), tokenize=False,
                                             add_generation_prompt=True)
    except Exception as e:  # jinja raise_exception (e.g. "roles must alternate") or a bad template
        raise UserError(f"the model's chat template refused this conversation: "
                        f"{first_line(e)}") from None
    # The template writes BOS itself where the model wants one: do not add another.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _as_list(v: Any) -> list[int]:
    if v is None:
        return []
    return [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)]


def template_end_token(tokenizer: Any) -> Optional[int]:
    """The special token the chat template writes right after an assistant's text (ChatML's
    <|im_end|>, Llama 3's <|eot_id|>, Gemma's <end_of_turn>), or None."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    marker = "Zq7marker"
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
    try:
        text = tokenizer.apply_chat_template(msgs, tokenize=False)
    except Exception:  # a template that cannot render this pair simply tells us nothing
        return None
    if marker not in text:
        return None
    tail = text.split(marker, 1)[1].lstrip(" ")
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
    if not ids:
        return None
    special = set(getattr(tokenizer, "all_special_ids", [])) | \
        set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    return int(ids[0]) if ids[0] in special else None


def end_of_turn_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """Every token id that ends a reply: generation config EOS, tokenizer EOS, template end."""
    ids: list[int] = []
    if generation_config is not None:
        ids += _as_list(getattr(generation_config, "eos_token_id", None))
    ids += _as_list(getattr(tokenizer, "eos_token_id", None))
    end = template_end_token(tokenizer)
    if end is not None:
        ids.append(end)
    return list(dict.fromkeys(ids))  # unique, in order


# --- streaming -----------------------------------------------------------------------------------

class _Streamer:
    """A transformers streamer (put/end) that decodes incrementally and calls on_chunk.

    Incremental decode keeps two offsets into the new tokens (the scheme text-generation-inference
    uses): text is emitted once it no longer ends in U+FFFD, i.e. once a character split over
    several byte-level tokens is complete. Each step decodes only the last few tokens."""

    MAX_HELD = 8  # tokens held back waiting for a character to complete, at most

    def __init__(self, tokenizer: Any, eos_ids: set[int], on_chunk: Optional[Callable],
                 logits_ref: Optional[list], top_n: int):
        self.tok = tokenizer
        # The Rust decoder directly: tokenizer.decode's Python wrapper costs ~3x more per
        # token. Only where that wrapper would not change the text (no space clean-up).
        backend = getattr(tokenizer, "backend_tokenizer", None)
        plain = backend is not None and not getattr(tokenizer, "clean_up_tokenization_spaces",
                                                    False)
        self._decode = (lambda ids: backend.decode(ids, skip_special_tokens=True)) if plain \
            else (lambda ids: tokenizer.decode(ids, skip_special_tokens=True))
        self.eos_ids = eos_ids
        self.on_chunk = on_chunk
        self.logits_ref = logits_ref   # [last-position logits (vocab,)] from the lm_head hook
        self.top_n = top_n
        self.ids: list[int] = []
        self.prefix = 0                # start of the decode window
        self.read = 0                  # tokens already emitted
        self.pending_lp: list[float] = []
        self.pending_alt: Optional[tuple] = None
        self.chunks: list[Chunk] = []
        self.text_parts: list[str] = []
        self.first_token_at: Optional[float] = None
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt itself
            self._prompt_seen = True
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        token = int(value.reshape(-1)[0])  # value: (batch=1,) the token just sampled
        if self.logits_ref is not None and self.logits_ref:
            self._score(token)
        if token in self.eos_ids:
            return  # the end-of-turn token is not part of the answer's text
        self.ids.append(token)
        self._emit(final=False)

    def end(self) -> None:
        self._emit(final=True)

    def _score(self, token: int) -> None:
        import torch

        logp = torch.log_softmax(self.logits_ref[0].float(), dim=-1)  # (vocab,)
        self.pending_lp.append(float(logp[token]))
        if self.pending_alt is None:
            top = torch.topk(logp, min(self.top_n, logp.numel()))
            self.pending_alt = tuple(
                (self.tok.decode([int(i)], skip_special_tokens=False), float(v))
                for v, i in zip(top.values.tolist(), top.indices.tolist()))

    def _emit(self, final: bool) -> None:
        ids = self.ids
        if self.read >= len(ids):
            return
        before = self._decode(ids[self.prefix:self.read])
        text = self._decode(ids[self.prefix:])
        if text.endswith("\ufffd") and not final and len(ids) - self.read < self.MAX_HELD:
            return  # half a character: wait for the next token (not forever: bytes that
            # never form a character, from an untrained model, are shown as they are)
        new = text[len(before):]
        chunk_ids = tuple(ids[self.read:])
        self.prefix, self.read = self.read, len(ids)
        lp = sum(self.pending_lp) if self.pending_lp else None
        chunk = Chunk(new, chunk_ids, lp, self.pending_alt)
        self.pending_lp, self.pending_alt = [], None
        self.text_parts.append(new)
        self.chunks.append(chunk)
        if self.on_chunk is not None and new:
            self.on_chunk(chunk)


def _cancel_criteria(cancel: threading.Event) -> Any:
    import torch
    from transformers import StoppingCriteria

    class CancelCriteria(StoppingCriteria):
        # Checked by generate() after every sampled token: stop within one token of a request.
        # The answers are made once (generate only reads them): no allocation per token.
        answers: dict = {}

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            key = (input_ids.shape[0], input_ids.device, cancel.is_set())
            if key not in self.answers:
                self.answers[key] = torch.full(key[:1], key[2], dtype=torch.bool,
                                               device=key[1])
            return self.answers[key]

    return CancelCriteria()


class ChatEngine:
    """One model + tokenizer ready to answer. For a PEFT model, `use_adapter=False` answers
    with the adapter switched off (the base model), sharing the same weights in memory."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = end_of_turn_ids(tokenizer, getattr(model, "generation_config", None))
        if not self.eos_ids:
            raise UserError("the model has no end-of-sequence token (no eos_token_id in its "
                            "generation_config or tokenizer): a reply could never end")
        self.uses_template = bool(getattr(tokenizer, "chat_template", None))
        self.note = "" if self.uses_template else FALLBACK_NOTE
        # Without a pad token generate() warns once per call; EOS is the usual stand-in.
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else self.eos_ids[0]

    @property
    def has_adapter(self) -> bool:
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def generation_config(self, s: GenSettings) -> Any:
        """The transformers GenerationConfig for settings `s` (also used by bench/chat.py)."""
        from transformers import GenerationConfig

        sample = s.temperature > 0
        # Every field set explicitly: fields left None are filled from the model's own
        # generation_config (e.g. temperature 0.7), which would override a greedy request.
        extra = dict(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k) if sample else \
            dict(temperature=1.0, top_p=1.0, top_k=50)
        return GenerationConfig(
            do_sample=sample, max_new_tokens=s.max_new_tokens, min_new_tokens=s.min_new_tokens,
            repetition_penalty=s.repetition_penalty, eos_token_id=list(self.eos_ids),
            pad_token_id=self.pad_id, **extra)

    def prompt_ids(self, messages: Sequence[dict]) -> Any:
        import torch

        ids = build_prompt_ids(self.tokenizer, messages)
        return torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)

    def reply(self, messages: Sequence[dict], settings: GenSettings = GenSettings(),
              on_chunk: Optional[Callable[[Chunk], None]] = None,
              cancel: Optional[threading.Event] = None, use_adapter: bool = True) -> Reply:
        """Answer the last user message. Blocks; calls on_chunk(Chunk) in this thread."""
        import torch
        from transformers import StoppingCriteriaList

        settings.check()
        cancel = cancel or threading.Event()
        t0 = time.perf_counter()
        input_ids = self.prompt_ids(messages)
        logits_ref: Optional[list] = [] if settings.logprobs else None
        streamer = _Streamer(self.tokenizer, set(self.eos_ids), on_chunk, logits_ref,
                             settings.top_alternatives)
        gen_cfg = self.generation_config(settings)
        model = self.model
        with contextlib.ExitStack() as stack:
            if not use_adapter and self.has_adapter:
                model = self._enter_base(stack)
            if logits_ref is not None:
                stack.enter_context(_capture_last_logits(self.model, logits_ref))
            if settings.seed is not None:
                # fork_rng: a seeded reply must not change the caller's random state
                stack.enter_context(torch.random.fork_rng(devices=_cuda_devices(self.device)))
                torch.manual_seed(settings.seed)
            stack.enter_context(torch.inference_mode())
            out = model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                generation_config=gen_cfg, streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_cancel_criteria(cancel)]))
        seconds = time.perf_counter() - t0
        new = out[0, input_ids.shape[1]:].tolist()
        if new and new[-1] in self.eos_ids:
            reason = "eos"
        elif cancel.is_set():
            reason = "cancelled"
        else:
            reason = "length"
        first = (streamer.first_token_at - t0) if streamer.first_token_at else seconds
        return Reply(text="".join(streamer.text_parts), tokens=len(new), stop_reason=reason,
                     first_token_s=first, seconds=seconds, prompt_tokens=input_ids.shape[1],
                     chunks=tuple(streamer.chunks))


    def _enter_base(self, stack: contextlib.ExitStack) -> Any:
        """The model to generate with for a base answer, adapter switched off in `stack`."""
        peft_cfg = self.model.peft_config[self.model.active_adapter]
        if peft_cfg.is_prompt_learning:
            # Virtual tokens live only in the PeftModel's wrapper: the inner model is the base.
            return self.model.get_base_model()
        stack.enter_context(self.model.disable_adapter())  # LoRA-style layers bypassed
        return self.model


def _cuda_devices(device: Any) -> list:
    return [device] if getattr(device, "type", "cpu") == "cuda" else []


@contextlib.contextmanager
def _capture_last_logits(model: Any, ref: list) -> Any:
    """Keep the output head's logits at the last position (vocab,) of every forward in ref[0]:
    the model's raw distribution for the token about to be sampled, before any sampler warps it
    (generate's own output_scores are warped and come only at the end)."""
    head = model.get_output_embeddings()
    if head is None:
        raise UserError("this model has no output head to read token probabilities from")

    def hook(_mod: Any, _inp: Any, out: Any) -> None:
        ref[:] = [out[0, -1].detach()]  # out: (batch=1, T, vocab)

    handle = head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
