"""An Ollama Modelfile for a GGUF export: FROM, the chat template as a Go template, the stop
strings and the sampling defaults.

Ollama renders prompts with Go templates, not Jinja, so the model's template is translated. The
translation is read off the template's own output, not parsed: conversations with sentinel
contents are rendered through the Jinja template and the text around each sentinel is the
prefix or suffix of that role (a turn = prefix + content + suffix, a head before the first turn
that may hold a default system prompt, and the generation prompt last). Templates whose output
does not have that shape are refused by name; tests render the Go template back and compare it
with the Jinja rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from studio.core.errors import UserError

_S, _U, _A, _U2 = "\x02SYS\x03", "\x02USR\x03", "\x02AST\x03", "\x02USR2\x03"


@dataclass(frozen=True)
class Sampling:
    """What the Chat page uses by default (the user's choices when the window exports)."""
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class TurnShape:
    head_with_system: str      # before the system prompt
    system_suffix: str
    head_without_system: str   # before the first turn when there is no system prompt
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation: str            # the generation prompt after the last turn


def turn_shape(render: Any) -> TurnShape:
    """Read the template's turn shape. `render(messages, add_generation_prompt) -> str`."""
    def msgs(*pairs: tuple[str, str]) -> list[dict]:
        return [{"role": r, "content": c} for r, c in pairs]

    conv = msgs(("system", _S), ("user", _U), ("assistant", _A), ("user", _U2))
    full = render(conv, True)
    plain = render(conv, False)
    no_sys = render(msgs(("user", _U)), False)
    if not full.startswith(plain) or any(s not in full for s in (_S, _U, _A, _U2)):
        raise UserError("the chat template's output has a shape Ollama's templates cannot "
                        "express; the Modelfile is written without TEMPLATE")
    generation = full[len(plain):]
    pre0, rest = full.split(_S)
    x1, rest = rest.split(_U, 1)
    x2, rest = rest.split(_A)
    x3, x4 = rest.split(_U2)
    head_nosys = no_sys.split(_U)[0]
    user_prefix = _common_suffix(x1, x3, head_nosys)
    user_suffix = x4[:len(x4) - len(generation)] if x4.endswith(generation) else None
    if not user_prefix or user_suffix is None or not x2.startswith(user_suffix):
        raise UserError("the chat template does not render turns as prefix + content + "
                        "suffix; the Modelfile is written without TEMPLATE")
    return TurnShape(head_with_system=pre0, system_suffix=x1[:len(x1) - len(user_prefix)],
                     head_without_system=head_nosys[:len(head_nosys) - len(user_prefix)],
                     user_prefix=user_prefix, user_suffix=user_suffix,
                     assistant_prefix=x2[len(user_suffix):],
                     assistant_suffix=x3[:len(x3) - len(user_prefix)], generation=generation)


def _common_suffix(*texts: str) -> str:
    n = 0
    while all(len(t) > n for t in texts) and len({t[len(t) - n - 1] for t in texts}) == 1:
        n += 1
    return texts[0][len(texts[0]) - n:] if n else ""


def go_template(shape: TurnShape) -> str:
    """The Go template Ollama renders: system first, then each user / assistant turn, then
    the generation prompt. No whitespace trimming: every literal character is output."""
    q = _literal
    return ("{{ if .System }}" + q(shape.head_with_system) + "{{ .System }}"
            + q(shape.system_suffix) + "{{ else }}" + q(shape.head_without_system)
            + "{{ end }}{{ range .Messages }}{{ if eq .Role \"user\" }}"
            + q(shape.user_prefix) + "{{ .Content }}" + q(shape.user_suffix)
            + "{{ else if eq .Role \"assistant\" }}" + q(shape.assistant_prefix)
            + "{{ .Content }}" + q(shape.assistant_suffix) + "{{ end }}{{ end }}"
            + q(shape.generation))


def _literal(text: str) -> str:
    # "{{" would open an action; Go prints a quoted string action as its text.
    return text.replace("{{", '{{ "{{" }}')


def modelfile(gguf_name: str, render: Optional[Any], stop: list[str],
              sampling: Sampling = Sampling()) -> tuple[str, Optional[str]]:
    """(Modelfile text, a note when the template could not be translated)."""
    lines = [f"FROM ./{gguf_name}", ""]
    note = None
    if render is not None:
        try:
            template = go_template(turn_shape(render))
            lines += ['TEMPLATE """' + template + '"""', ""]
        except UserError as e:
            note = str(e)
    for s in dict.fromkeys(stop):
        lines.append(f"PARAMETER stop {_quoted(s)}")
    lines += [f"PARAMETER temperature {sampling.temperature:g}",
              f"PARAMETER top_p {sampling.top_p:g}",
              f"PARAMETER top_k {int(sampling.top_k)}",
              f"PARAMETER repeat_penalty {sampling.repetition_penalty:g}", ""]
    return "\n".join(lines), note


def _quoted(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jinja_renderer(tokenizer: Any) -> Optional[Any]:
    """render(messages, add_generation_prompt) through the tokenizer's own template."""
    if not getattr(tokenizer, "chat_template", None):
        return None

    def render(messages: list[dict], add_generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    return render
