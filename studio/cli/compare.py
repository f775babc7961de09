"""`python main.py compare RUN... [--sort COL] [--format text|csv|markdown|json] [--out FILE]`."""

from __future__ import annotations

import argparse

FORMATS = ("text", "csv", "markdown", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare runs side by side (cost and result)",
                       description="One row per run: trainable share, peak memory, time per "
                                   "step, tokens/s, final train and eval loss, evaluation "
                                   "figures, and the config keys that differ. A folder of runs "
                                   "(a sweep) stands for all its runs.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders or sweep folders")
    p.add_argument("--sort", default="", metavar="COLUMN",
                   help="sort by a column key (e.g. eval_loss, peak_mem_mb); --sort=-COLUMN: "
                        "descending")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--out", default="", metavar="FILE",
                   help="write the table to FILE (format from its suffix: .csv, .md, .json)")
    p.add_argument("--prompt", action="append", default=[], metavar="TEXT",
                   help="also show each run's greedy answer to TEXT (repeatable; loads each "
                        "run's final model in turn)")
    p.add_argument("--max-new-tokens", type=int, default=64, metavar="N",
                   help="longest answer in tokens (with --prompt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.core.errors import UserError
    from studio.core.experiments import compare

    rows = compare.table(args.runs)
    if args.prompt:
        import contextlib
        import io

        from studio.core.experiments.answers import answers

        # Loading each run's model prints progress bars and notices (the library noise that
        # commands send to stdout): dropped here, so the table on stdout can be piped as
        # CSV / JSON.
        with contextlib.redirect_stderr(io.StringIO()):
            said = answers([r["_path"] for r in rows], args.prompt,
                           max_new_tokens=args.max_new_tokens)
        for r in rows:
            for prompt, text in zip(args.prompt, said[r["_path"]]):
                r[f"answer: {prompt}"] = text
    if args.sort:
        key = args.sort.lstrip("-")
        if key not in compare.columns_of(rows):
            raise UserError(f"--sort: no column {key!r}; columns: "
                            f"{', '.join(compare.columns_of(rows))}")
        rows = compare.sort_rows(rows, key, descending=args.sort.startswith("-"))
    fmt = args.format
    if args.out:
        fmt = {".csv": "csv", ".md": "markdown", ".json": "json"}.get(
            Path(args.out).suffix.lower(), fmt)
    text = {"text": compare.to_text, "csv": compare.to_csv, "markdown": compare.to_markdown,
            "json": compare.to_json}[fmt](rows)
    if args.out:
        try:
            Path(args.out).write_text(text if text.endswith("\n") else text + "\n",
                                      encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot write {args.out}: {e.strerror or e}") from None
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0
