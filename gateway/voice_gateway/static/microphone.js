/**
 * The microphone as a stream of 20 ms, 16 kHz s16le frames (the gateway's input format).
 *
 * The AudioContext keeps the device's own rate and the worklet resamples: asking for a 16 kHz
 * context would work in Chromium, but Firefox refuses to connect a microphone to a context
 * whose rate differs from the device's, and the bot's 24 kHz reply plays through the same
 * context, which should not be band-limited to 8 kHz.
 */

export const CALLER_RATE = 16000;
const FRAME_MS = 20;

/**
 * Ask for the microphone and start delivering frames to ``onFrame(pcm: ArrayBuffer, dbfs)``.
 * Echo cancellation matters: without it the bot's own voice from the speakers barges in on it.
 */
export async function openMicrophone(context, onFrame) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  try {
    await context.audioWorklet.addModule(new URL("capture-worklet.js", import.meta.url));
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    throw error;
  }
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, "pcm16-capture", {
    numberOfInputs: 1,
    numberOfOutputs: 0,
    channelCount: 1,
    channelCountMode: "explicit",
    processorOptions: { targetRate: CALLER_RATE, frameMs: FRAME_MS },
  });
  capture.port.onmessage = ({ data }) => onFrame(data.pcm, data.dbfs);
  source.connect(capture);
  return {
    close() {
      capture.port.onmessage = null;
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
    },
  };
}
