"""How a tokenizer splits text: tokens with ids and character spans, counts, and the tokens a
chat template adds around a conversation.

Works on the tokenizer alone (no model weights), so the tokenizer view answers instantly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from studio.core.errors import UserError

MAX_CHARS = 100_000
# A "word" for counting: a run of letters/digits of a spaced script, or one CJK character
# (Chinese and Japanese do not put spaces between words; per-character is the usual measure).
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


@dataclass(frozen=True)
class TokenPiece:
    index: int
    token_id: int
    token: str              # the vocabulary entry (e.g. "Ġking", "##ing", "[CLS]")
    start: int              # character span in the text; start == end for added tokens
    end: int
    special: bool           # a special token (BOS, [CLS], <|im_start|>, ...)
    template: bool = False  # added by the chat template, not part of the user's content


@dataclass(frozen=True)
class TokenSplit:
    text: str
    pieces: tuple[TokenPiece, ...]
    chars: int
    words: int

    @property
    def tokens(self) -> int:
        return len(self.pieces)

    @property
    def tokens_per_char(self) -> float:
        return self.tokens / self.chars if self.chars else 0.0

    @property
    def tokens_per_word(self) -> float:
        return self.tokens / self.words if self.words else 0.0


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def split_text(tokenizer: Any, text: str, *, add_special_tokens: bool = True) -> TokenSplit:
    """Every token of `text` with its id and the characters it covers."""
    if text is None or not text.strip():
        raise UserError("no text given: type some text to split into tokens")
    if len(text) > MAX_CHARS:
        raise UserError(f"the text has {len(text):,} characters; at most {MAX_CHARS:,} at once")
    pieces = _pieces(tokenizer, text, add_special_tokens)
    return TokenSplit(text=text, pieces=tuple(pieces), chars=len(text), words=count_words(text))


def _pieces(tokenizer: Any, text: str, add_special_tokens: bool,
            content: Optional[list[tuple[int, int]]] = None) -> list[TokenPiece]:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("this tokenizer has no character offsets (a slow tokenizer); "
                        "the model folder needs a tokenizer.json")
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                    return_special_tokens_mask=True)
    ids = enc["input_ids"]
    names = tokenizer.convert_ids_to_tokens(ids)
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    out = []
    for i, (tid, (s, e)) in enumerate(zip(ids, enc["offset_mapping"])):
        special = tid in special_ids or bool(enc["special_tokens_mask"][i])
        template = content is not None and not any(a <= s and e <= b and s < e
                                                   for a, b in content)
        out.append(TokenPiece(i, int(tid), str(names[i]), int(s), int(e), special, template))
    return out


@dataclass(frozen=True)
class TemplateSplit:
    """A one-turn conversation rendered by the chat template and split into tokens; tokens
    outside the two messages' text are marked `template`."""

    rendered: str
    pieces: tuple[TokenPiece, ...]
    content_tokens: int

    @property
    def template_tokens(self) -> int:
        return sum(p.template for p in self.pieces)


def template_split(tokenizer: Any, user: str, assistant: str = "OK.") -> Optional[TemplateSplit]:
    """The chat template's own tokens around one user turn and one assistant reply; None when
    the tokenizer has no chat template (e.g. BERT encoders)."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    if not user or not user.strip():
        raise UserError("no text given for the user's message")
    msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    try:
        rendered = tokenizer.apply_chat_template(msgs, tokenize=False)
    except Exception as e:  # a template's own raise_exception / jinja errors
        raise UserError(f"the chat template failed on a one-turn conversation: {e}") from None
    spans, pos = [], 0
    for m in msgs:  # find each message's text in order: everything else is the template's
        at = rendered.find(m["content"], pos)
        if at >= 0:
            spans.append((at, at + len(m["content"])))
            pos = at + len(m["content"])
    # the template writes the special tokens itself: no second BOS from the tokenizer
    pieces = _pieces(tokenizer, rendered, add_special_tokens=False, content=spans)
    content = sum(not p.template for p in pieces)
    return TemplateSplit(rendered=rendered, pieces=tuple(pieces), content_tokens=content)


def piece_label(split_text_: str, piece: TokenPiece) -> str:
    """The text a token covers (its vocabulary name for added tokens)."""
    if piece.start == piece.end:
        return piece.token
    return split_text_[piece.start:piece.end]
