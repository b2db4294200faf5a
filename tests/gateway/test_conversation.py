"""End-to-end through the real local stack: real speech in, real STT/LLM/TTS, speech out."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from support import metric_value
from voice_agent.client import Caller
from voice_common.audio import pcm16_to_float32, rms_dbfs

pytestmark = pytest.mark.slow


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def test_a_spoken_question_gets_a_spoken_answer(local_stack, speech):
    async with Caller(local_stack.gateway_ws) as call:
        await call.silence(0.3)
        turn = await call.say_and_listen(speech("What is the capital of France?"), timeout=90)

    assert not call.conversation.errors, call.conversation.errors
    assert {"capital", "france"} <= words(turn.transcript), turn.transcript
    assert len(turn.reply_text.strip()) > 3, "the LLM's reply text should reach the caller"
    reply = pcm16_to_float32(call.conversation.reply_pcm())
    assert reply.size / 24000 > 0.5, "at least half a second of 24 kHz speech"
    assert rms_dbfs(reply) > -40, "reply audio is not silence"
    server = turn.server
    for key in ("stt_ms", "llm_ttft_ms", "tts_ttfb_ms", "mouth_to_ear_ms"):
        assert isinstance(server[key], float) and server[key] > 0, (key, server)
    # mouth-to-ear covers the stages that run one after another
    assert server["mouth_to_ear_ms"] > server["stt_ms"] + server["llm_ttft_ms"]
    assert turn.client_mouth_to_ear_ms is not None and turn.client_mouth_to_ear_ms > 0
    # one event per happening (Pipecat broadcasts VAD and bot-speaking frames in both directions)
    assert server["turn"] == 1, server
    kinds = [event["type"] for _, event in call.conversation.events]
    for kind in ("user_stopped_speaking", "bot_started_speaking", "bot_stopped_speaking", "turn_metrics"):
        assert kinds.count(kind) == 1, (kind, kinds)


async def test_two_turns_keep_the_conversation_context(local_stack, speech):
    async with Caller(local_stack.gateway_ws) as call:
        await call.silence(0.3)
        first = await call.say_and_listen(speech("My name is Alice."), timeout=90)
        second = await call.say_and_listen(speech("What did I just tell you?"), timeout=90)

    assert not call.conversation.errors, call.conversation.errors
    assert first.server and second.server
    # the second request carries turn one (question and spoken answer) plus the new question
    assert second.server["llm_context_messages"] == first.server["llm_context_messages"] + 2, (first.server, second.server)


async def test_barge_in_stops_bot_audio_and_cancels_tts(local_stack, speech):
    async with httpx.AsyncClient() as http:
        before = metric_value((await http.get(local_stack.tts_http + "/metrics")).text, "tts_cancellations_total")
        gateway_metrics = (await http.get(local_stack.gateway_http + "/metrics")).text
        interruptions_before = metric_value(gateway_metrics, "voice_interruptions_total")
    async with Caller(local_stack.gateway_ws) as call:
        await call.silence(0.3)
        await call.say(speech("Please tell me a long story about a dragon and a knight."))
        speaking = asyncio.create_task(call.silence(30))
        assert await call.wait_for(lambda: call.conversation.first_event("bot_started_speaking"), 60)
        await asyncio.sleep(0.6)  # the bot is mid-sentence now
        speaking.cancel()
        onset = asyncio.get_running_loop().time()
        interrupter = asyncio.create_task(call.stream(speech("Stop, stop please.")))
        assert await call.wait_for(lambda: call.conversation.first_event("interruption", after=onset), 10)
        interrupted_at, _ = call.conversation.first_event("interruption", after=onset)
        detected_at, _ = call.conversation.first_event("user_started_speaking", after=onset)
        await interrupter
        await call.silence(1.0)

    # Bot audio stops within 200 ms of the gateway hearing the caller (VAD needs start_secs of
    # speech before it can hear anyone); the reply to the interruption itself cannot start before
    # the caller finishes speaking, so the next 0.8 s must be free of bot audio.
    late = [t for t, _ in call.conversation.audio if detected_at + 0.2 < t < detected_at + 1.0]
    assert not late, f"bot audio kept flowing {late[-1] - detected_at:.3f} s after barge-in"
    assert interrupted_at - detected_at < 0.2
    assert call.conversation.audio[0][0] < detected_at, "the bot was speaking when the caller barged in"
    async with httpx.AsyncClient() as http:
        after = metric_value((await http.get(local_stack.tts_http + "/metrics")).text, "tts_cancellations_total")
        interruptions = metric_value((await http.get(local_stack.gateway_http + "/metrics")).text, "voice_interruptions_total")
    assert after > before, "the TTS server should have been told to cancel the synthesis in flight"
    # the gateway counts the barge-in once and marks the cut-off turn as interrupted
    assert interruptions == interruptions_before + 1, (interruptions_before, interruptions)
    turns = [e for _, e in call.conversation.events if e.get("type") == "turn_metrics"]
    assert [turn["interrupted"] for turn in turns][:1] == [True], turns


async def test_gateway_metrics_fill_the_budget_histograms(local_stack, speech):
    async with Caller(local_stack.gateway_ws) as call:
        await call.silence(0.3)
        await call.say_and_listen(speech("Hello, how are you?"), timeout=90)
    async with httpx.AsyncClient() as http:
        text = (await http.get(local_stack.gateway_http + "/metrics")).text
    for name in ("voice_stt_latency_seconds", "voice_llm_ttft_seconds", "voice_tts_ttfb_seconds", "voice_mouth_to_ear_seconds"):
        assert metric_value(text, f"{name}_count") >= 1, name
    assert metric_value(text, "voice_turns_total") >= 1
    assert 'le="1.1"' in text, "mouth-to-ear buckets include the budget's max"
