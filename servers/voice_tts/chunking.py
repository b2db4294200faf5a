"""Split text so the first audio comes fast: a short first chunk, then bigger ones.

Time to first byte is the synthesis time of the first chunk, so it is cut at the first
clause or sentence (at most ``first_max`` characters). Later chunks group sentences up to
``later_max`` characters: they are synthesized while the first one plays, and fewer, longer
model calls keep prosody natural.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")


def _split_at(pattern: re.Pattern[str], text: str) -> list[str]:
    return [part.strip() for part in pattern.split(text) if part.strip()]


def _fit(piece: str, max_chars: int) -> list[str]:
    """Break ``piece`` at clauses, then at word boundaries, so no part exceeds ``max_chars``."""
    if len(piece) <= max_chars:
        return [piece]
    parts: list[str] = []
    for clause in _split_at(_CLAUSE_END, piece):
        while len(clause) > max_chars:
            cut = clause.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            parts.append(clause[:cut].strip())
            clause = clause[cut:].strip()
        if clause:
            parts.append(clause)
    return parts


def chunk_text(text: str, first_max: int, later_max: int) -> list[str]:
    """Chunks of ``text`` in order: the first short, the rest sentence groups up to ``later_max``."""
    sentences = _split_at(_SENTENCE_END, " ".join(text.split()))
    if not sentences:
        return []
    first_parts = _fit(sentences[0], first_max)
    first = first_parts[0]
    # If the first sentence had to be cut, its clause-sized pieces come next, regrouped.
    rest = first_parts[1:] + sentences[1:]
    chunks = [first]
    current = ""
    for sentence in rest:
        for part in _fit(sentence, later_max):
            if current and len(current) + 1 + len(part) > later_max:
                chunks.append(current)
                current = part
            else:
                current = f"{current} {part}".strip()
    if current:
        chunks.append(current)
    return chunks
