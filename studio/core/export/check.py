"""Checks an export must pass before it is moved into place (used by export.py).

1. Reload it the way another tool would (plain `AutoModelForCausalLM.from_pretrained`, plus
   `PeftModel.from_pretrained` for an adapter) and compare its logits on a probe conversation
   with the in-studio model's: max abs difference must stay under logit_tolerance (1e-3 in
   fp32; a few rounding steps of the largest logit in bf16 / fp16).
2. Greedy generation on a canned prompt with the export's own generation_config: does it stop
   at an end-of-turn token within the limit? A random or barely trained model may not (reported,
   not failed); a generation_config whose EOS misses the chat template's end-of-turn token is
   the bug behind "models that never stop talking" (failed for a merged export, which writes
   that config, and a warning for an adapter, which uses the base model's).

torch / transformers / peft are imported inside the functions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core.chat.engine import _as_list, build_prompt_ids, template_end_token
from studio.core.model.load import use_portable_4bit_kernel

LOGIT_TOLERANCE = 1e-3
# Logits of a 16-bit model move in steps of eps x |logit| (bf16: 2^-7 relative, ~0.06 at 8);
# merging rounds base + delta to that grid once more, and every layer rounds again. Allowed:
# this many steps at the largest logit (measured on the tiny bf16 starter: see
# tests/core/export/test_export_dtype.py).
LOGIT_STEPS_16BIT = 8
EOS_CHECK_TOKENS = 64
PROBE = [{"role": "system", "content": "You are a helpful assistant."},
         {"role": "user", "content": "Hello! What can you do? 你好，你能做什么？"}]
PROBE_ANSWER = "I can answer questions and help with writing. 我可以回答问题。"


@dataclass(frozen=True)
class EosCheck:
    stopped: bool               # the reply ended with one of the stop tokens
    tokens: int                 # new tokens generated
    stop_ids: tuple[int, ...]   # generation_config.eos_token_id of the reloaded export
    stop_tokens: tuple[str, ...]  # the same, as token strings
    end_of_turn: Optional[int]  # the chat template's end-of-turn token
    problem: str = ""           # a wrong EOS configuration, in words ("" when fine)


def probe_ids(tokenizer: Any, device: Any) -> Any:
    """(1, T) ids of the probe conversation, the assistant's answer included, so the logits
    cover prompt, template markers and answer tokens."""
    import torch

    msgs = PROBE + [{"role": "assistant", "content": PROBE_ANSWER}]
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
    else:
        ids = tokenizer(" ".join(m["content"] for m in msgs))["input_ids"]
    return torch.tensor([list(ids)], dtype=torch.long, device=device)


def logits(model: Any, ids: Any) -> Any:
    """Float32 logits (1, T, vocab) on the CPU."""
    import torch

    with torch.inference_mode():
        return model(input_ids=ids).logits.float().cpu()


def reload_plain(folder: Path, fmt: str, base_path: Path, quantization: Any, device: str,
                 dtype: Any) -> Any:
    """The export loaded with plain transformers (+ peft), as a user of another tool would."""
    from transformers import AutoModelForCausalLM

    if fmt == "merged":
        return AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype,
                                                    device_map={"": device}).eval()
    from peft import PeftModel

    kwargs: dict[str, Any] = dict(dtype=dtype, device_map={"": device})
    if quantization is not None:  # the adapter was trained on a 4-bit base: load it the same way
        kwargs["quantization_config"] = quantization
    base = AutoModelForCausalLM.from_pretrained(str(base_path), **kwargs)
    if quantization is not None:
        # The in-studio model ran on the portable 4-bit kernel; compare like with like.
        use_portable_4bit_kernel(base)
    return PeftModel.from_pretrained(base, str(folder)).eval()


def logit_tolerance(dtype: Any, reference: Any) -> float:
    """The largest logit difference an export in `dtype` may show against the in-studio model:
    LOGIT_TOLERANCE in fp32, LOGIT_STEPS_16BIT rounding steps of the largest logit in 16 bits."""
    import torch

    if dtype not in (torch.bfloat16, torch.float16):
        return LOGIT_TOLERANCE
    scale = float(reference.abs().max()) if reference.numel() else 1.0
    return max(LOGIT_TOLERANCE, LOGIT_STEPS_16BIT * torch.finfo(dtype).eps * max(1.0, scale))


def max_abs_diff(reference: Any, other: Any) -> float:
    if reference.shape != other.shape:
        return float("inf")
    return float((reference - other).abs().max())


def eos_check(model: Any, tokenizer: Any) -> EosCheck:
    """Greedy reply to the canned prompt with the model's own generation_config."""
    import torch

    gen = model.generation_config
    stop_ids = tuple(_as_list(gen.eos_token_id))
    end = template_end_token(tokenizer)
    problem = ""
    vocab = model.get_output_embeddings().weight.shape[0]
    bad = [i for i in stop_ids if not 0 <= i < vocab]
    if bad:
        problem = f"generation_config's eos_token_id {bad[0]} is outside the vocabulary ({vocab})"
    elif not stop_ids:
        problem = "generation_config has no eos_token_id: replies never end"
    elif end is not None and end not in stop_ids:
        name = tokenizer.convert_ids_to_tokens(end)
        problem = (f"the chat template ends a turn with {name} (id {end}) but "
                   f"generation_config's eos_token_id {list(stop_ids)} lacks it")
    ids = torch.tensor([build_prompt_ids(tokenizer, PROBE)], device=model.device)
    greedy = copy.deepcopy(gen)
    # Greedy, with the sampling fields neutral (the model's own defaults would only warn).
    greedy.do_sample, greedy.temperature, greedy.top_p, greedy.top_k = False, 1.0, 1.0, 50
    greedy.max_new_tokens = EOS_CHECK_TOKENS
    if greedy.pad_token_id is None:
        greedy.pad_token_id = (stop_ids or (0,))[0]
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             generation_config=greedy)
    new = out[0, ids.shape[1]:].tolist()
    stopped = bool(new) and new[-1] in stop_ids
    names = tuple(str(tokenizer.convert_ids_to_tokens(i)) if 0 <= i < vocab else str(i)
                  for i in stop_ids)
    return EosCheck(stopped, len(new), stop_ids, names, end, problem)
