/**
 * The page: one button starts and ends a call; what the call reports (conversation, per-turn
 * latency against the budget, errors) is shown as it happens.
 */
import { loadBudget } from "./budget.js";
import { Call, gatewayUrl } from "./call.js";
import { LatencyTable } from "./latency-table.js";
import { Transcript } from "./transcript.js";

const button = document.getElementById("call-button");
const status = document.getElementById("status");
const level = document.getElementById("level");
const errors = document.getElementById("errors");
const transcript = new Transcript(document.getElementById("transcript"));
const latency = document.getElementById("latency");

// What happens while a call is live, in the caller's words.
const PROGRESS = {
  user_started_speaking: "Listening…",
  user_stopped_speaking: "Thinking…",
  bot_started_speaking: "The agent is speaking. Talk over it to interrupt.",
  bot_stopped_speaking: "Your turn.",
  interruption: "Interrupted. Listening…",
};

/** A read-only summary of the page for tests and devtools: state, finished turns, errors, byte counts. */
const voiceAgent = { state: "idle", turns: [], errors: [], stats: null };
window.voiceAgent = voiceAgent;

let call = null;
let table = null; // built once the budget has loaded

function setState(state, message) {
  voiceAgent.state = state;
  document.body.dataset.state = state;
  button.textContent = state === "idle" || state === "ended" ? "Start call" : "End call";
  status.textContent = message;
}

function showError({ code, message, service }) {
  voiceAgent.errors.push({ code, message, service });
  const item = document.createElement("li");
  item.textContent = `${service ? `${service}: ` : ""}${code} — ${message}`;
  errors.append(item);
  errors.hidden = false;
}

function onServerEvent({ detail: event }) {
  if (event.type === "ready") setState("live", "Connected. Say something.");
  else if (event.type === "transcript" && event.text) transcript.heard(event.text, event.revises === true);
  else if (event.type === "bot_text") transcript.replied(event.text);
  else if (event.type === "interruption") transcript.interrupted();
  else if (event.type === "error") showError(event);
  if (voiceAgent.state === "live" && event.type in PROGRESS) status.textContent = PROGRESS[event.type];
}

function onTurn({ detail: turn }) {
  voiceAgent.turns.push(turn);
  table?.add(turn);
}

function onClosed({ detail: { code, reason } }) {
  const normal = code === 1000 || code === 1005;
  setState("ended", normal ? "Call ended." : `Call ended by the gateway (${code}${reason ? `: ${reason}` : ""}).`);
  level.value = level.min;
  call = null;
}

async function startCall() {
  transcript.clear();
  table?.clear();
  errors.replaceChildren();
  errors.hidden = true;
  voiceAgent.turns = [];
  voiceAgent.errors = [];
  call = new Call();
  voiceAgent.stats = call.stats;
  call.addEventListener("server", onServerEvent);
  call.addEventListener("turn", onTurn);
  call.addEventListener("level", ({ detail: dbfs }) => (level.value = Math.max(dbfs, level.min)));
  call.addEventListener("closed", onClosed);
  setState("connecting", "Waiting for the microphone…");
  button.disabled = true;
  try {
    await call.start(gatewayUrl(location.href));
    status.textContent = "Connecting…";
  } catch (error) {
    showError({ code: "microphone", message: error.message || String(error) });
    setState("idle", "No call: the microphone is not available.");
    call = null;
  } finally {
    button.disabled = false;
  }
}

button.addEventListener("click", () => (call ? call.stop() : startCall()));
window.addEventListener("pagehide", () => call?.stop());

loadBudget()
  .then((budget) => (table = new LatencyTable(latency, budget)))
  .catch((error) => showError({ code: "budget", message: error.message }));
setState("idle", "Press Start call and allow the microphone.");
