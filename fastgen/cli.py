"""Command-line parsing with one-line errors: tyro parses, and a parse error (an unknown flag, a value of the
wrong type, a missing value) comes out as ``<prog>: error: <what>`` plus a pointer to ``--help``, not as
tyro's boxed panel. ``--help`` prints as tyro draws it."""

import contextlib
import io
import re
import sys

import tyro

_BOX = re.compile(r"[│╭╮╰╯]")


def parse(cls, argv: list[str] | None, prog: str, description: str):
    """``tyro.cli(cls)`` on ``argv``; a parse error exits 2 with two lines on stderr."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            return tyro.cli(cls, args=argv, prog=prog, description=description)
    except SystemExit as exit_:
        if not exit_.code:  # --help
            sys.stdout.write(captured.getvalue())
            raise
        print(f"{prog}: error: {first_message(captured.getvalue())}", file=sys.stderr)
        print(f"{prog}: see --help for the options and their values", file=sys.stderr)
        raise SystemExit(2) from None


def first_message(panel: str) -> str:
    """The first paragraph inside tyro's error panel (boxed on a terminal, ruled with dashes elsewhere), on
    one line, ``Error parsing`` dropped."""
    words = []
    for line in panel.splitlines()[1:]:  # the first line is the panel's title
        line = _BOX.sub("", line).strip()
        rule = not line or set(line) <= {"─", "-"}
        if rule and words:
            break
        if not rule:
            words.append(line)
    text = " ".join(" ".join(words).split()) or "could not parse the arguments"
    return text.removeprefix("Error parsing ")
