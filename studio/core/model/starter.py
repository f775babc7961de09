"""The starter model: a randomly initialised causal LM plus a byte-level BPE tokenizer.

There is no model hub on the machines this studio targets first (and none in tests), so the
studio builds its own small model: a Llama or Qwen2 config with random weights, a tokenizer
trained in about a second on the mixed Chinese + English corpus in studio/resources/corpus/ (or
on the user's own text), a ChatML chat template and a generation config whose EOS ends the assistant
turn. The result is a normal Hugging Face folder (safetensors) that loads through the same code
as any downloaded model (`studio.core.model.load.load_model` / `load_tokenizer`).

torch / transformers / tokenizers are imported inside the functions: the UI imports this module
at start-up to list the sizes, and those imports take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from studio.core import files
from studio.core.errors import UserError
from studio.paths import resource

CORPUS_DIR = resource("corpus")

# Special tokens. EOS is the end-of-turn marker, so `generate` stops after the assistant's
# reply; <|endoftext|> pads and also ends generation (it separates documents in pre-training).
BOS = "<|startoftext|>"
EOS = "<|im_end|>"
PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
SPECIAL_TOKENS = [PAD, BOS, IM_START, EOS]  # ids 0..3, in this order
# Tool-call markers: single tokens, but not "special" (decoding with skip_special_tokens keeps
# them, so a tool call stays readable).
TOOL_TOKENS = ["<tool_call>", "</tool_call>"]

# Pre-tokenizer split (the Qwen2 / GPT-4 style pattern): letters of any script stay together
# (a run of Chinese characters is one piece; BPE then merges inside it), digits split one by
# one, punctuation and whitespace apart. ByteLevel then maps every byte to a printable
# character, so no input is ever unknown.
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# ChatML with system / user / assistant / tool roles and optional `tools`. The assistant's
# content and its closing <|im_end|> sit inside {% generation %}, so
# apply_chat_template(..., return_assistant_tokens_mask=True) marks exactly the tokens the model
# must learn to produce, EOS included (a model that never learns EOS never stops talking).
CHAT_TEMPLATE = (
    "{%- set ns = namespace(first=0) -%}"
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' -}}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{{- messages[0]['content'] + '\\n\\n' -}}{%- set ns.first = 1 -%}"
    "{%- endif -%}"
    "{{- 'You can call these tools. To call one, answer with <tool_call>{\"name\": ..., "
    "\"arguments\": ...}</tool_call>.\\n' -}}"
    "{%- for tool in tools -%}{{- tool | tojson + '\\n' -}}{%- endfor -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages[ns.first:] -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant', 'tool'] -%}"
    "{{- raise_exception('unknown chat role: ' + message['role']) -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}"
    "{{- message['content'] or '' -}}"
    "{%- for call in message.get('tool_calls') or [] -%}"
    "{%- set fn = call['function'] if call.get('function') else call -%}"
    "{%- if loop.first and message['content'] -%}{{- '\\n' -}}{%- endif -%}"
    "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}"
    "{{- '<tool_call>' + {'name': fn['name'], 'arguments': fn['arguments']} | tojson"
    " + '</tool_call>' -}}"
    "{%- endfor -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- (message['content'] or '') + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class StarterSize:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int          # target; a small corpus may yield fewer merges (vocab = tokenizer size)
    max_positions: int = 2048
    padded_vocab: int = 0  # rows of the embedding and head when above the tokenizer's size


SIZES = {
    # ~0.3M params: several optimizer steps per second on 2 CPU cores.
    "tiny": StarterSize(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=172, vocab=2048),
    # a few M params: still trains on a CPU, visibly learns the corpus.
    "small": StarterSize(hidden=256, layers=4, heads=8, kv_heads=4, intermediate=688,
                         vocab=8192),
}
ARCHS = ("llama", "qwen2")
MAX_VOCAB = 1 << 20     # new-model --vocab: above Gemma's 256k, below what would not load
MAX_HIDDEN = 8192
MAX_LAYERS = 128


def custom_size(base: str = "tiny", *, vocab: int = 0, hidden: int = 0,
                layers: int = 0) -> StarterSize:
    """A named size with some dimensions changed, for models of a real model's shape (a
    Qwen2.5-sized vocabulary of 151,936 on a small body, a 12-layer x 768 body). A vocabulary
    above the tokenizer's is padded: the extra rows exist in the embedding and the head (real
    models pad theirs too: Qwen2.5 has 151,936 rows for 151,665 tokens) but no text maps to
    them. Heads of 64 dimensions (one for a narrower body), half as many key/value heads,
    the MLP width in Llama's ratio (8/3, rounded up to a multiple of 32)."""
    spec = SIZES[base]
    for name, value, top in (("vocab", vocab, MAX_VOCAB), ("hidden", hidden, MAX_HIDDEN),
                             ("layers", layers, MAX_LAYERS)):
        if value and not 1 <= value <= top:
            raise UserError(f"--{name} must be between 1 and {top:,}; got {value}")
    if hidden and hidden % 64 and hidden > 64:
        raise UserError(f"--hidden must be a multiple of 64 (heads of 64 dimensions); "
                        f"got {hidden}")
    if not hidden:
        return replace(spec, padded_vocab=vocab, layers=layers or spec.layers)
    heads = max(1, hidden // 64)
    return replace(spec, padded_vocab=vocab, layers=layers or spec.layers, hidden=hidden,
                   heads=heads, kv_heads=max(1, heads // 2),
                   intermediate=-(-hidden * 8 // 3 // 32) * 32)


def corpus_files(corpus: str | Path | None = None) -> list[Path]:
    """The text files to train the tokenizer on: the shipped corpus, or the user's file or
    folder of .txt files."""
    if corpus is None:
        found = sorted(CORPUS_DIR.glob("*.txt"))
        if not found:
            raise UserError(f"the starter corpus is missing: no .txt files in {CORPUS_DIR}")
        return found
    p = Path(corpus).expanduser()
    if p.is_dir():
        found = sorted(p.glob("*.txt"))
        if not found:
            raise UserError(f"corpus folder {p} holds no .txt files")
    else:
        found = [files.regular_file(p, "corpus file")]
    for f in found:
        # regular files only, bounded: a pipe or /dev/zero named .txt would hang the tokenizer
        text = files.read_text(f, "corpus file", files.TEXT_LIMIT)
        if len(text.strip()) < 100:
            raise UserError(f"corpus file {f} is too short to train a tokenizer "
                            f"(needs at least 100 characters of text)")
    return found


def train_tokenizer(files: list[Path], vocab_size: int, max_length: int = 2048):
    """Train a byte-level BPE on `files` -> a transformers fast tokenizer (not saved).

    Deterministic for the same files and vocab size. Takes well under a second on the shipped
    corpus (~200 KB).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        # all 256 byte symbols are in the vocabulary from the start: nothing is ever unknown
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train([str(f) for f in files], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        extra_special_tokens=[IM_START], model_max_length=max_length,
        chat_template=CHAT_TEMPLATE, padding_side="right", clean_up_tokenization_spaces=False,
    )
    fast.add_tokens(TOOL_TOKENS)
    return fast


def _model_config(arch: str, size: StarterSize, tokenizer):
    from transformers import LlamaConfig, Qwen2Config

    ids = dict(bos_token_id=tokenizer.convert_tokens_to_ids(BOS),
               eos_token_id=tokenizer.convert_tokens_to_ids(EOS),
               pad_token_id=tokenizer.convert_tokens_to_ids(PAD))
    common = dict(
        vocab_size=max(len(tokenizer), size.padded_vocab),  # custom_size may pad
        hidden_size=size.hidden, num_hidden_layers=size.layers,
        num_attention_heads=size.heads, num_key_value_heads=size.kv_heads,
        intermediate_size=size.intermediate, max_position_embeddings=size.max_positions,
        **ids,
    )
    if arch == "llama":
        return LlamaConfig(tie_word_embeddings=False, **common)
    # Qwen2 ties the input embedding and the output head, as the small Qwen2 models do: the
    # parameter map and the methods must cope with a shared weight.
    return Qwen2Config(tie_word_embeddings=True, use_sliding_window=False, **common)


def check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out} is not empty; choose a new folder or pass --overwrite")
    files.check_writable(out, "the model folder")


def _remove_stale_weights(out: Path) -> None:
    # Stale weight shards from an earlier model would be mixed into this one: remove them
    # (only weight files; anything else the user keeps there is left alone). Only once the
    # new model is built: a command that fails changes nothing.
    for pattern in ("*.safetensors", "*.bin", "*.safetensors.index.json"):
        for f in out.glob(pattern):
            f.unlink()


def new_model(out_dir: str | Path, size: str | StarterSize = "tiny", arch: str = "llama",
              corpus: str | Path | None = None, seed: int = 0, *,
              overwrite: bool = False) -> Path:
    """Write a random-weight causal LM + trained BPE tokenizer + chat template to `out_dir`.

    Returns the folder. The same arguments give the same weights and tokenizer. `size` is a
    name in SIZES or a StarterSize (the pretrained starter's recipe brings its own).
    """
    if isinstance(size, str) and size not in SIZES:
        raise UserError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if arch not in ARCHS:
        raise UserError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    out = Path(out_dir).expanduser()
    if not -2**63 <= seed < 2**64:  # what torch.manual_seed accepts
        raise UserError(f"seed must fit in 64 bits; got {seed}")
    texts = corpus_files(corpus)
    check_out_dir(out, overwrite)

    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    spec = SIZES[size] if isinstance(size, str) else size
    tokenizer = train_tokenizer(texts, spec.vocab, spec.max_positions)
    config = _model_config(arch, spec, tokenizer)
    # fork_rng: seed the initialisation without changing the caller's random state
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[config.eos_token_id, config.pad_token_id],  # end of turn / of text
        pad_token_id=config.pad_token_id,
        do_sample=True, temperature=0.7, top_p=0.9, max_new_tokens=256,
    )
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_weights(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
