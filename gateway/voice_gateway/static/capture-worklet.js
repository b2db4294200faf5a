/**
 * Runs on the audio thread: turns the microphone's float samples, at whatever rate the
 * AudioContext runs (44.1/48 kHz on most devices), into 20 ms frames of 16 kHz s16le PCM —
 * the gateway's input format — and reports each frame's level for the page's speech clock.
 *
 * Resampling averages the input samples that fall into each output sample's span: cheap on the
 * audio thread and a low-pass at the same time, so content above 8 kHz does not alias into
 * the speech band. At a 16 kHz context it passes samples through unchanged.
 */
class Pcm16Capture extends AudioWorkletProcessor {
  constructor({ processorOptions }) {
    super();
    const { targetRate, frameMs } = processorOptions;
    this.step = sampleRate / targetRate; // input samples per output sample (the context is never below 16 kHz)
    this.frameLength = (targetRate * frameMs) / 1000;
    this.startFrame();
    this.sum = 0;
    this.count = 0;
    this.phase = 0;
  }

  startFrame() {
    this.frame = new Int16Array(this.frameLength);
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channel = inputs[0][0]; // the node mixes its input down to one channel
    if (!channel) return true; // no input connected yet
    for (const sample of channel) {
      this.sum += sample;
      this.count += 1;
      this.phase += 1;
      if (this.phase >= this.step) {
        this.phase -= this.step;
        this.push(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }

  push(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.energy += clamped * clamped;
    if (this.filled === this.frameLength) {
      const dbfs = 10 * Math.log10(this.energy / this.frameLength + 1e-12);
      this.port.postMessage({ pcm: this.frame.buffer, dbfs }, [this.frame.buffer]);
      this.startFrame();
    }
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
