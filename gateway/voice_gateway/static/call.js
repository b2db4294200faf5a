/**
 * One call to the gateway's raw-PCM WebSocket (docs/protocols.md): microphone frames out,
 * reply audio to the speakers, JSON events to whoever listens, and the caller's own clock.
 *
 * Client mouth-to-ear means what it means for the Python caller (src/voice_agent/client.py):
 * from the last frame of speech sent to the first byte of reply audio received. A live
 * microphone has no known end of speech, so the last frame louder than the speech threshold
 * before the gateway's ``user_stopped_speaking`` stands for it.
 */

import { CALLER_RATE, openMicrophone } from "./microphone.js";
import { Player } from "./player.js";

const SPEECH_DBFS = -45; // the threshold voice_common.audio.trailing_silence_seconds uses

/** ``ws(s)://<page's host and path>ws``, carrying the page's ``?token=`` (browsers cannot set WS headers). */
export function gatewayUrl(pageUrl) {
  const page = new URL(pageUrl);
  const url = new URL("ws", page);
  url.protocol = page.protocol === "https:" ? "wss:" : "ws:";
  const token = page.searchParams.get("token");
  if (token) url.searchParams.set("token", token);
  return url.href;
}

/**
 * Events (all CustomEvents): ``server`` (detail: a gateway JSON event), ``turn`` (detail: the
 * gateway's turn_metrics plus ``client_mouth_to_ear_ms`` and ``network_ms``), ``level`` (detail:
 * the last frame's dBFS), ``closed`` (detail: {code, reason}).
 */
export class Call extends EventTarget {
  stats = { framesSent: 0, audioBytesReceived: 0, audioChunksReceived: 0 };
  #context = null;
  #microphone = null;
  #player = null;
  #socket = null;
  #lastSpeechSentAt = null;
  #speechEnds = new Map(); // gateway turn number -> {speechEnd, firstAudioAt}
  #turnsStopped = 0;

  /** Opens the microphone (may prompt), then the socket; rejects if either fails. */
  async start(url) {
    this.#context = new AudioContext({ latencyHint: "interactive" });
    try {
      this.#microphone = await openMicrophone(this.#context, (pcm, dbfs) => this.#onFrame(pcm, dbfs));
    } catch (error) {
      this.#context.close();
      throw error;
    }
    this.#player = new Player(this.#context);
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send(JSON.stringify({ type: "start", sample_rate: CALLER_RATE }));
    socket.onmessage = ({ data }) => (typeof data === "string" ? this.#onEvent(JSON.parse(data)) : this.#onAudio(data));
    socket.onclose = ({ code, reason }) => {
      this.#release();
      this.#emit("closed", { code, reason });
    };
    this.#socket = socket;
  }

  /** Hang up: the socket's close event releases the microphone and the audio. */
  stop() {
    if (this.#socket && this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(1000, "caller hung up");
    else this.#release();
  }

  #release() {
    this.#microphone?.close();
    this.#player?.flush();
    this.#context?.close();
    this.#microphone = this.#player = this.#context = null;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #onFrame(pcm, dbfs) {
    this.#emit("level", dbfs);
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#socket.send(pcm);
    this.stats.framesSent += 1;
    if (dbfs > SPEECH_DBFS) this.#lastSpeechSentAt = performance.now();
  }

  #onAudio(chunk) {
    this.stats.audioBytesReceived += chunk.byteLength;
    this.stats.audioChunksReceived += 1;
    const latest = this.#speechEnds.get(this.#turnsStopped);
    if (latest && latest.firstAudioAt === null) latest.firstAudioAt = performance.now();
    this.#player?.enqueue(chunk);
  }

  #onEvent(event) {
    switch (event.type) {
      case "user_stopped_speaking":
        // The gateway numbers turns by these events, so counting them here matches turn_metrics.turn.
        this.#turnsStopped += 1;
        this.#speechEnds.set(this.#turnsStopped, { speechEnd: this.#lastSpeechSentAt, firstAudioAt: null });
        break;
      case "interruption":
        this.#player?.flush();
        break;
      case "turn_metrics":
        this.#emit("turn", { ...event, ...this.#clientTiming(event) });
        break;
    }
    this.#emit("server", event);
  }

  /** The caller's side of a finished turn; network = client minus server mouth-to-ear, as in the CLI report. */
  #clientTiming(event) {
    const mark = this.#speechEnds.get(event.turn);
    for (const turn of this.#speechEnds.keys()) if (turn <= event.turn) this.#speechEnds.delete(turn);
    if (!mark || mark.speechEnd === null || mark.firstAudioAt === null) {
      return { client_mouth_to_ear_ms: null, network_ms: null };
    }
    const client = Math.round((mark.firstAudioAt - mark.speechEnd) * 10) / 10;
    const server = event.mouth_to_ear_ms;
    const network = server == null ? null : Math.max(client - server, 0);
    return { client_mouth_to_ear_ms: client, network_ms: network };
  }
}
