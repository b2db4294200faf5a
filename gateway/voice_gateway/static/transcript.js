/**
 * The conversation as it happens: what the gateway heard, and the bot's reply growing token by
 * token (``bot_text`` events stream the LLM's output), marked when the caller cut it off.
 */
export class Transcript {
  #list;
  #reply = null; // the bot entry that bot_text currently extends

  constructor(list) {
    this.#list = list;
  }

  clear() {
    this.#list.replaceChildren();
    this.#reply = null;
  }

  /** ``revises``: the gateway decoded the caller's words again, whole, after a pause they spoke on
   * from; the new text replaces what was shown for them (it is not a second utterance). */
  heard(text, revises = false) {
    const last = this.#list.lastElementChild;
    if (revises && last?.classList.contains("you")) {
      last.querySelector(".text").textContent = text;
      return;
    }
    this.#reply = null;
    this.#add("you", "You", text);
  }

  replied(text) {
    this.#reply ??= this.#add("bot", "Agent", "");
    this.#reply.querySelector(".text").textContent += text;
  }

  interrupted() {
    this.#reply?.classList.add("interrupted");
    this.#reply = null;
  }

  #add(who, label, text) {
    const item = document.createElement("li");
    item.className = who;
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = label;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(name, body);
    this.#list.append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }
}
