// ============================================================================
// status.js: one line of news (role="status") and one of trouble (role="alert")
// ============================================================================

export class Status {
  /** @param el {status, alert, alertText, dismiss} */
  constructor(el) {
    this.el = el;
    el.dismiss.addEventListener("click", () => this.clearError());
  }

  /** Quiet progress news: "Loaded label map", "Synthesized in 40 ms". */
  info(message) {
    this.el.status.textContent = message;
  }

  /** Something failed; stays visible until dismissed or the next success. */
  error(message) {
    this.el.alertText.textContent = message;
    this.el.alert.hidden = false;
  }

  clearError() {
    this.el.alert.hidden = true;
    this.el.alertText.textContent = "";
  }
}
