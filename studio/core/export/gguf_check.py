"""Verify a GGUF export with llama.cpp itself (llama-cpp-python): it loads, tokenizes as the
studio does, carries the chat template and the end of turn, and predicts what the studio's
model predicts.

The reference is the studio's merged model at the precision of the file (f16 / bf16 weights
rounded from the fp32 merge, so the check measures the conversion, not the rounding every f16
file has), or at fp32 for f32 and the quantized types, whose agreement is reported as a figure
rather than judged. Bars for f16 / bf16 / f32: top-1 agreement >= 99% of positions, and a
32-token greedy continuation identical token for token.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from studio.core.export.checklist import Check

AGREEMENT_BAR = 0.99
CONTINUATION = 32
EXACT_TYPES = ("f32", "f16", "bf16")
PROBE_TEXT = ("The weather is very nice today, so we walked along the river and talked about "
              "books. 今天天气很好，我们沿着河边散步，聊了很多关于读书的事情。")
PROBE_CHAT = [{"role": "system", "content": "You are a helpful assistant."},
              {"role": "user", "content": "用一句话解释什么是机器学习。"},
              {"role": "assistant", "content": "Machine learning lets computers learn "
                                               "patterns from data."},
              {"role": "user", "content": "Thanks! 再举一个例子。"}]


@dataclass(frozen=True)
class Reference:
    """What the studio's model predicts on the probes, computed before it is freed."""
    prompts: tuple[tuple[int, ...], ...]    # token ids of each probe
    top1: tuple[tuple[int, ...], ...]       # argmax at every position of each probe
    continuation: tuple[int, ...]           # greedy tokens after the chat probe (EOS barred)
    precision: str
    stop_ids: tuple[int, ...]
    end_of_turn: Optional[int]              # the token the template writes after a reply
    template_text: Optional[str]            # PROBE_CHAT through the studio's template


def reference(model: Any, tokenizer: Any, gguf_type: str, stop_ids: tuple[int, ...],
              end_of_turn: Optional[int]) -> Reference:
    """Run the probes through `model` at the file's precision. f16 / bf16 round the weights
    in place: call this after the GGUF is written, when the fp32 weights are no longer needed."""
    import torch

    precision = gguf_type if gguf_type in ("f16", "bf16") else "fp32"
    if precision != "fp32":
        dtype = torch.float16 if precision == "f16" else torch.bfloat16
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(dtype).to(torch.float32))
    template_text = None
    chat_ids = tokenizer(PROBE_TEXT, add_special_tokens=False)["input_ids"]
    if tokenizer.chat_template:
        template_text = tokenizer.apply_chat_template(PROBE_CHAT, tokenize=False,
                                                      add_generation_prompt=True)
        chat_ids = tokenizer(template_text, add_special_tokens=False)["input_ids"]
    prompts = (tuple(tokenizer(PROBE_TEXT, add_special_tokens=False)["input_ids"]),
               tuple(chat_ids))
    model.eval()
    with torch.no_grad():
        top1 = tuple(tuple(model(torch.tensor([list(p)])).logits[0].argmax(-1).tolist())
                     for p in prompts)
        ids = torch.tensor([list(prompts[1])])
        for _ in range(CONTINUATION):
            logits = model(ids).logits[0, -1]
            logits[list(stop_ids)] = float("-inf")
            ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
    return Reference(prompts, top1, tuple(ids[0, len(prompts[1]):].tolist()), precision,
                     tuple(stop_ids), end_of_turn, template_text)


def verify(path: Path, gguf_type: str, ref: Reference, tokenizer: Any) -> list[Check]:
    """Load the file with llama.cpp and compare it with the reference."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return [Check("loads in llama.cpp", None, "not checked: llama-cpp-python is not "
                      "installed", "pip install 'llm-studio[gguf]' and export again")]
    n_ctx = max(len(p) for p in ref.prompts) + CONTINUATION + 8
    try:
        with _plain_cpu_kernels():
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=2, logits_all=True,
                        verbose=False, seed=0)
    except Exception as e:  # llama.cpp says little; the name of the failure is the figure
        return [Check("loads in llama.cpp", False, f"{type(e).__name__}: {e}",
                      "report this file's model type; export --format merged meanwhile")]
    checks = [Check("loads in llama.cpp", True, f"{path.name}, {gguf_type}")]
    checks.append(_tokenizer_check(llm, ref, tokenizer))
    checks.append(_template_check(llm, ref))
    checks.append(_stop_check(llm, ref, tokenizer))
    checks += _prediction_checks(llm, ref, gguf_type)
    llm.close() if hasattr(llm, "close") else None
    return checks


@contextmanager
def _plain_cpu_kernels() -> Iterator[None]:
    """Load with llama.cpp's plain CPU kernels, without its "extra buffer types" (weights
    repacked for AMX or for wider SIMD tiles). A llama.cpp built on a CPU with AMX crashed in
    ggml_backend_amx_mul_mat on the tiny starter's q8_0 file (a layer of 172 rows, not a
    multiple of the AMX tile; Intel Xeon, llama-cpp-python 0.3.36). The check compares the
    file's numbers with the studio's, which the plain kernels compute the same way; Llama()
    takes no argument for this, so its default model parameters are changed while it loads."""
    import llama_cpp.llama_cpp as low

    default = low.llama_model_default_params

    def params() -> Any:
        p = default()
        if hasattr(p, "use_extra_bufts"):
            p.use_extra_bufts = False
        return p

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = default


def _tokenizer_check(llm: Any, ref: Reference, tokenizer: Any) -> Check:
    texts = [PROBE_TEXT] + ([ref.template_text] if ref.template_text else [])
    same = sum(tuple(llm.tokenize(t.encode("utf-8"), add_bos=False, special=True)) == p
               for t, p in zip(texts, ref.prompts))
    return Check("llama.cpp splits text into the studio's tokens", same == len(texts),
                 f"{same} of {len(texts)} probe texts token for token "
                 f"({sum(len(p) for p in ref.prompts)} tokens)",
                 "the tokenizer did not travel intact: do not use this file; report it")


def _template_check(llm: Any, ref: Reference) -> Check:
    template = llm.metadata.get("tokenizer.chat_template")
    if ref.template_text is None:
        return Check("chat template travels with the file", None, "the model has none")
    if not template:
        return Check("chat template travels with the file", False, "missing from the file",
                     "export again; report it if it persists")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    text = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")(
        messages=PROBE_CHAT).prompt
    return Check("chat template travels with the file", text == ref.template_text,
                 "one conversation renders identically" if text == ref.template_text
                 else "the file's template renders the conversation differently",
                 "the template uses features other tools do not support; chat through "
                 "the studio or fix the template")


def _stop_check(llm: Any, ref: Reference, tokenizer: Any) -> Check:
    meta = llm.metadata
    ids = {int(meta[k]) for k in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id")
           if k in meta}
    eot = ref.end_of_turn
    ok = eot is not None and eot in ids
    name = tokenizer.convert_ids_to_tokens(eot) if eot is not None else "?"
    return Check("generation stops at the end of the turn", ok,
                 f"end of turn {name} (id {eot}) is the file's "
                 f"{'EOS / EOT' if ok else 'not EOS or EOT'}",
                 "other tools would run past the end of the turn: report it")


def _prediction_checks(llm: Any, ref: Reference, gguf_type: str) -> list[Check]:
    import numpy as np

    same = total = 0
    for prompt, top1 in zip(ref.prompts, ref.top1):
        llm.reset()
        llm.eval(list(prompt))
        ours = np.asarray(llm.scores[:len(prompt)]).argmax(-1)
        same += int((ours == np.asarray(top1)).sum())
        total += len(prompt)
    llm.reset()
    llm.eval(list(ref.prompts[1]))
    cont: list[int] = []
    for _ in range(CONTINUATION):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        logits[list(ref.stop_ids)] = -np.inf
        cont.append(int(logits.argmax()))
        llm.eval([cont[-1]])
    share = same / max(total, 1)
    equal_run = next((i for i, (a, b) in enumerate(zip(cont, ref.continuation)) if a != b),
                     len(cont))
    exact = gguf_type in EXACT_TYPES
    against = f"the studio's model at {ref.precision}"
    return [
        Check(f"top-1 token agrees with {against}", share >= AGREEMENT_BAR if exact else None,
              f"{same}/{total} positions ({share:.1%})",
              "the conversion changed the model: report it, and use --format merged" if exact
              else ""),
        Check(f"greedy continuation ({CONTINUATION} tokens) matches",
              equal_run == CONTINUATION if exact else None,
              f"identical for {equal_run} of {CONTINUATION} tokens",
              "the conversion changed the model: report it, and use --format merged" if exact
              else ""),
    ]
