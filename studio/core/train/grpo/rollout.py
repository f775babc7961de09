"""GRPO prompts and sampling: rows -> prompt token ids; a prompt -> a group of completions.

Prompts are rendered with the model's own chat template and its generation prompt (the same
`build_prompt_ids` the Chat page uses); sampling stops at the model's end-of-turn tokens
(`end_of_turn_ids`). Sampling is seeded by (seed, step, prompt), inside a forked RNG, so a
resumed run samples exactly what the uninterrupted run sampled, whatever else drew random
numbers in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from studio.core.data.types import RowProblem, Sample


@dataclass(frozen=True)
class PromptItem:
    """A grpo row: its prompt as token ids (ready for the reply), and the reference answer."""
    row: int
    prompt_ids: list[int]
    prompt: str                  # the last user message (rewards see it)
    reference: Optional[str]
    truncated: bool = False

    @property
    def length(self) -> int:
        return len(self.prompt_ids)


@dataclass(frozen=True)
class Sampled:
    ids: list[int]       # completion token ids, the end-of-turn token included when it ended
    text: str            # decoded, without special tokens
    ended: bool          # stopped at an end-of-turn token


def tokenize_prompts(samples: Sequence[Sample], tokenizer: Any, max_length: int,
                     max_completion: int) -> tuple[list[PromptItem], list[RowProblem]]:
    """Each row's prompt through the chat template; a prompt that leaves no room for
    max_completion tokens within max_length is reported, never cut silently."""
    from studio.core.chat.engine import build_prompt_ids
    from studio.core.errors import UserError

    items: list[PromptItem] = []
    problems: list[RowProblem] = []
    room = max_length - max_completion
    for sample in samples:
        msgs = list(sample.messages)
        reference = None
        if msgs and msgs[-1].role == "assistant":
            reference, msgs = msgs[-1].content, msgs[:-1]
        try:
            ids = build_prompt_ids(tokenizer, [{"role": m.role, "content": m.content}
                                               for m in msgs])
        except UserError as e:
            problems.append(RowProblem(sample.row, e.one_line()))
            continue
        if len(ids) > room:
            problems.append(RowProblem(sample.row, f"the prompt is {len(ids)} tokens: with "
                                       f"grpo_max_completion {max_completion} it does not fit "
                                       f"max_length {max_length}"))
            continue
        user = next((m.content for m in reversed(msgs) if m.role == "user"), "")
        items.append(PromptItem(sample.row, ids, user, reference))
    return items, problems


def sample_group(model: Any, tokenizer: Any, item: PromptItem, *, group_size: int,
                 max_new_tokens: int, temperature: float, end_ids: list[int], seed: int,
                 device: Any) -> list[Sampled]:
    """group_size completions of one prompt, sampled from the model as it is (eval mode, no
    grad), with plain temperature sampling (no top-k / top-p: the objective assumes the
    model's own distribution)."""
    import torch
    from transformers import GenerationConfig

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_ids[0]
    gen = GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                           max_new_tokens=max_new_tokens, eos_token_id=end_ids,
                           pad_token_id=pad)
    ids = torch.tensor([item.prompt_ids] * group_size, device=device)   # (G, P)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             generation_config=gen)
    new = out[:, ids.shape[1]:].tolist()                                 # (G, <= max_new)
    ends = set(end_ids)
    group = []
    for row in new:
        stop = next((k for k, t in enumerate(row) if t in ends), None)
        kept = row if stop is None else row[:stop + 1]
        text = tokenizer.decode(kept if stop is None else kept[:-1], skip_special_tokens=True)
        group.append(Sampled(kept, text, stop is not None))
    return group


def step_seed(seed: int, step: int, k: int) -> int:
    """The sampling seed of the k-th prompt of optimizer step `step` (0-based)."""
    return (seed * 1_000_003 + step * 1_009 + k) % (2**63 - 1)
