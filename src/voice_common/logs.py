"""How every server of the stack logs: one line per record, timestamped, INFO and up, to stderr.

uvicorn configures only its own loggers, so a server whose ``__main__`` sets nothing up loses
every INFO line of its own (the model's "loaded" and "warm-up done" went nowhere): each server's
``__main__`` calls :func:`configure_logging` before serving.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(*quiet: str) -> None:
    """Log INFO and up from every logger; the ``quiet`` ones (libraries that log each call) WARNING and up."""
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
