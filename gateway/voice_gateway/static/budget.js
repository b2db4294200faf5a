/**
 * The latency budget, fetched from the gateway's /budget.json (src/voice_common/budget.json),
 * so the page judges a turn by the same numbers as the gateway's metrics and the CLI report.
 */

/** ``{stage: {label, target_min_ms, target_max_ms, max_ms}}``. */
export async function loadBudget() {
  const response = await fetch(new URL("budget.json", document.baseURI));
  if (!response.ok) throw new Error(`budget.json: HTTP ${response.status}`);
  return (await response.json()).stages;
}

/** Where ``ms`` falls against a stage: the same bands as voice_common.budget.StageBudget.verdict. */
export function verdict(stage, ms) {
  if (ms > stage.max_ms) return "over max";
  if (ms > stage.target_max_ms) return "over target";
  return "on target";
}
