"""Write generated files, or check that the committed ones are current (``--check``).

The chart's dashboards and alert rules are generated from the budget and the metric registries,
the protocol reference from the wire models; all generators share this command line so CI,
``make dashboards`` and ``make protocol-doc`` treat them alike.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(
    argv: list[str] | None,
    *,
    what: str,
    out_dir: Path,
    pattern: str,
    render: Callable[[], dict[str, str]],
    remedy: str = "make dashboards",
) -> int:
    """``render()`` gives file name -> text; files in ``out_dir`` matching ``pattern`` are ours.
    ``remedy`` is the command a stale check tells the reader to run."""
    parser = argparse.ArgumentParser(description=f"generate the {what}")
    parser.add_argument("--check", action="store_true", help=f"fail if the committed {what} differ from the generated ones")
    parser.add_argument("--out", type=Path, default=out_dir, help="directory of the generated files")
    args = parser.parse_args(argv)
    rendered = render()
    extra = sorted({path.name for path in args.out.glob(pattern)} - set(rendered))
    if args.check:
        stale = [
            name for name, text in rendered.items() if not (args.out / name).exists() or (args.out / name).read_text() != text
        ]
        if stale or extra:
            print(f"stale {what} {stale}, unexpected {extra}: run `{remedy}`", file=sys.stderr)
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in extra:
        (args.out / name).unlink()
    for name, text in rendered.items():
        (args.out / name).write_text(text)
    print(f"wrote {', '.join(sorted(rendered))} to {args.out}")
    return 0
