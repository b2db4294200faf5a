"""Whether a reply is an earlier reply again: the one criterion ``bench/bench_llm.py`` counts and
``tests/gateway/test_follow_up.py`` asserts, so the benchmark measures what the test checks."""

from __future__ import annotations

from voice_testkit.speech import word_list

# Word-set overlap at or above this makes a reply "the same again" (a restated answer shares
# nearly all its words; a new fact about the same city shares a few like "tokyo", "is", "the").
SAME_REPLY_JACCARD = 0.6


def restates(reply: str, earlier: str) -> bool:
    """``reply`` is ``earlier`` again: one holds the other word for word (whole words), or mostly
    the same words. An empty reply restates nothing."""
    reply_words, earlier_words = word_list(reply), word_list(earlier)
    if not reply_words or not earlier_words:
        return False
    a, b = f" {' '.join(reply_words)} ", f" {' '.join(earlier_words)} "
    if a in b or b in a:
        return True
    wa, wb = set(reply_words), set(earlier_words)
    return len(wa & wb) / len(wa | wb) >= SAME_REPLY_JACCARD
