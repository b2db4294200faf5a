/**
 * Plays the bot's reply (s16le mono 24 kHz chunks) as it arrives, without gaps, and drops all
 * of it at once when the caller barges in.
 *
 * Each chunk becomes an AudioBufferSource scheduled to start exactly where the previous one
 * ends, so network jitter smaller than the queued audio is inaudible. The context resamples
 * 24 kHz to its own rate.
 */

const REPLY_RATE = 24000; // the gateway's output rate (docs/protocols.md)
const START_LEAD_S = 0.03; // start slightly in the future: a chunk scheduled in the past clicks

export class Player {
  #context;
  #playing = new Set();
  #queuedUntil = 0;

  constructor(context) {
    this.#context = context;
  }

  /** Queue one binary WebSocket message of reply audio. */
  enqueue(chunk) {
    const pcm = new Int16Array(chunk); // every browser platform is little-endian, like the wire
    if (pcm.length === 0) return;
    const buffer = this.#context.createBuffer(1, pcm.length, REPLY_RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;

    const source = this.#context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.#context.destination);
    const startAt = Math.max(this.#queuedUntil, this.#context.currentTime + START_LEAD_S);
    source.start(startAt);
    this.#queuedUntil = startAt + buffer.duration;
    this.#playing.add(source);
    source.onended = () => this.#playing.delete(source);
  }

  /** Barge-in: silence now, and the next reply starts fresh instead of after the dropped audio. */
  flush() {
    for (const source of this.#playing) source.stop();
    this.#playing.clear();
    this.#queuedUntil = 0;
  }
}
