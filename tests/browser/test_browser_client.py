"""The browser client at ``/``, in a real Chromium whose microphone speaks a question.

Debian's chromium (``make chromium``) is driven by Playwright; no browser is ever downloaded.
Its fake capture device plays a WAV (a bundled spoken question, then silence) once, like a
caller who asks and then listens; the page must stream it through its AudioWorklet, show what
the gateway heard and answered, play the reply and time the turn against the budget.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from voice_common.audio import read_wav, write_wav
from voice_common.budget import load_budget
from voice_testkit.services import REPO_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / ".cache" / "test-artifacts"
QUESTION = REPO_ROOT / "samples" / "capital-of-france.wav"
TOKEN = "browser-test-token"
SERVER_STAGES = ("stt_ms", "llm_ttft_ms", "tts_ttfb_ms", "mouth_to_ear_ms")
# The flags for a closed network, plus the fake microphone (and its permission prompt).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory) -> Path:
    """Half a second of silence, the question, then silence long enough for the whole reply."""
    pcm, rate = read_wav(QUESTION)
    path = tmp_path_factory.mktemp("browser") / "question.wav"
    write_wav(path, bytes(rate) + pcm + bytes(2 * rate * 40), rate)
    return path


@asynccontextmanager
async def chromium(microphone_wav: Path):
    """Debian's Chromium whose microphone plays ``microphone_wav``. A helper, not a fixture: the
    browser belongs to the test's event loop, and async fixtures run on the session's."""
    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat of a local file, before any browser runs
        pytest.fail(f"{CHROMIUM} is missing; run `make chromium`")
    async with async_playwright() as playwright:
        # %noloop: play the file once, then silence (Chromium otherwise loops it and asks again).
        capture = f"--use-file-for-fake-audio-capture={microphone_wav}%noloop"
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, capture])
        try:
            yield browser
        finally:
            await browser.close()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def test_a_call_from_the_browser(local_stack, question_wav, capsys):
    async with chromium(question_wav) as browser:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        problems: list[str] = []
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        sockets: list[str] = []
        page.on("websocket", lambda socket: sockets.append(socket.url))

        await page.goto(f"{local_stack.gateway_http}/?token={TOKEN}")
        await page.get_by_role("button", name="Start call").click()
        # A finished turn, or an error event (shown on the page): then the assertions say which.
        await page.wait_for_function("voiceAgent.turns.length || voiceAgent.errors.length", timeout=90_000)
        state = await page.evaluate("window.voiceAgent")

        screenshot = ARTIFACTS / "browser.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=screenshot, full_page=True)
        with capsys.disabled():
            print(f"\nbrowser client screenshot: {screenshot}")
        assert not state["errors"] and not problems, (state["errors"], problems)

        heard = await page.locator("#transcript .you .text").first.inner_text()
        reply = await page.locator("#transcript .bot .text").first.inner_text()
        row = page.locator("#latency tbody tr").first
        cells = {}
        for key in (*SERVER_STAGES, "network_ms", "client_mouth_to_ear_ms"):
            cell = row.locator(f'td[data-key="{key}"]')
            cells[key] = (await cell.locator(".ms").inner_text(), await cell.get_attribute("data-verdict"))
        header = await page.locator("#latency thead").inner_text()

        await page.get_by_role("button", name="End call").click()
        await page.wait_for_function("window.voiceAgent.state === 'ended'", timeout=10_000)

    assert not problems, problems
    assert {"capital", "france"} <= words(heard), heard
    assert len(reply.strip()) > 3, "the LLM's reply text should be on the page"
    assert state["stats"]["framesSent"] > 50, "the microphone should have streamed (20 ms frames)"
    assert state["stats"]["audioBytesReceived"] >= 24000, "at least half a second of 24 kHz s16le reply audio"

    turn = state["turns"][0]
    assert all(isinstance(turn[key], (int, float)) and turn[key] > 0 for key in SERVER_STAGES), turn
    assert turn["client_mouth_to_ear_ms"] > 0 and turn["network_ms"] is not None, turn
    for key, (shown, verdict) in cells.items():
        assert re.fullmatch(r"\d+", shown) and verdict in {"on-target", "over-target", "over-max"}, (key, shown, verdict)
    assert f"max {load_budget()['mouth_to_ear'].max_ms:g}" in header, "the budget comes from /budget.json"

    # Everything (page, scripts, worklet, budget) came from the gateway, and the token went along.
    assert all(url.startswith(local_stack.gateway_http) for url in requested), requested
    assert sockets and all(f"token={TOKEN}" in url for url in sockets), sockets
