/**
 * One row per turn: each stage's latency next to its budget, coloured and labelled with its
 * verdict (the label is text too, so the colour is never the only signal).
 */
import { verdict } from "./budget.js";

// turn_metrics key (plus the two client-side numbers) -> budget stage and column heading.
const COLUMNS = [
  { key: "stt_ms", stage: "stt", heading: "STT" },
  { key: "llm_ttft_ms", stage: "llm_ttft", heading: "LLM first token" },
  { key: "tts_ttfb_ms", stage: "tts_ttfb", heading: "TTS first byte" },
  { key: "mouth_to_ear_ms", stage: "mouth_to_ear", heading: "Mouth-to-ear (server)" },
  { key: "network_ms", stage: "network", heading: "Network" },
  { key: "client_mouth_to_ear_ms", stage: "mouth_to_ear", heading: "Mouth-to-ear (you)" },
];

export class LatencyTable {
  #table;
  #budget;

  constructor(table, budget) {
    this.#table = table;
    this.#budget = budget;
    const row = table.tHead.insertRow();
    row.append(this.#th("Turn"));
    for (const { stage, heading } of COLUMNS) {
      const { target_max_ms: target, max_ms: max } = budget[stage];
      const th = this.#th(heading);
      th.title = budget[stage].label;
      const band = document.createElement("small");
      band.append(`target ≤ ${target}`, document.createElement("br"), `max ${max}`);
      th.append(document.createElement("br"), band);
      row.append(th);
    }
  }

  clear() {
    this.#table.tBodies[0].replaceChildren();
  }

  /** ``turn``: the gateway's turn_metrics event with the client's numbers added. */
  add(turn) {
    const row = this.#table.tBodies[0].insertRow();
    row.dataset.turn = turn.turn;
    const label = row.insertCell();
    label.textContent = turn.interrupted ? `${turn.turn} (cut off)` : String(turn.turn);
    label.title = turn.transcript ?? "";
    for (const { key, stage } of COLUMNS) {
      const cell = row.insertCell();
      cell.dataset.key = key;
      const ms = turn[key];
      if (typeof ms !== "number") {
        cell.textContent = "–";
        continue;
      }
      const judged = verdict(this.#budget[stage], ms);
      cell.dataset.verdict = judged.replace(" ", "-");
      const value = document.createElement("span");
      value.className = "ms";
      value.textContent = ms.toFixed(0);
      const note = document.createElement("small");
      note.textContent = judged;
      cell.append(value, " ", note);
    }
  }

  #th(text) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = text;
    return th;
  }
}
