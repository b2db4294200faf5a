"""The budget file drives verdicts, over-budget lists and histogram buckets everywhere."""

from voice_common.budget import Verdict, load_budget


def test_budget_holds_the_conversation_budget():
    budget = load_budget()
    assert (budget["stt"].target_min_ms, budget["stt"].target_max_ms, budget["stt"].max_ms) == (200, 350, 500)
    assert budget["llm_ttft"].max_ms == 400
    assert budget["tts_ttfb"].max_ms == 250
    assert budget["network"].max_ms == 150
    assert (budget["mouth_to_ear"].target_min_ms, budget["mouth_to_ear"].max_ms) == (500, 1100)


def test_verdicts_and_over_budget():
    budget = load_budget()
    assert budget["stt"].verdict(300) is Verdict.ON_TARGET
    assert budget["stt"].verdict(420) is Verdict.OVER_TARGET
    assert budget["stt"].verdict(501) is Verdict.OVER_MAX
    assert budget.over_budget({"stt": 600, "llm_ttft": 100, "tts_ttfb": None, "mouth_to_ear": 1200}) == ["stt", "mouth_to_ear"]


def test_histogram_buckets_bracket_the_budget():
    for stage in load_budget().stages.values():
        buckets = stage.histogram_buckets_seconds()
        assert buckets == sorted(buckets)
        for edge in (stage.target_min_ms, stage.target_max_ms, stage.max_ms):
            assert round(edge / 1000, 4) in buckets
