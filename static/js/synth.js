// ============================================================================
// synth.js: when to ask the server for a new image
//
// Requests are debounced (a stroke's end, a slider's drag), and at most one is in
// flight. Anything asked for meanwhile collapses into one follow-up request that is
// built when it is sent, so it always carries the newest drawing and style.
// ============================================================================

export const DEBOUNCE_MS = 150;

export class SynthScheduler {
  /**
   * @param run     async () => void: build the request from the current state and send it
   * @param onBusy  (busy: boolean) => void
   */
  constructor(run, onBusy = () => {}) {
    this.run = run;
    this.onBusy = onBusy;
    this.timer = null;
    this.inFlight = false;
    this.pending = false;
  }

  /** Synthesize soon: after DEBOUNCE_MS of quiet. */
  request() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.now(), DEBOUNCE_MS);
  }

  /** Synthesize as soon as no other request is in flight. */
  now() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) { this.pending = true; return; }
    this._start();
  }

  async _start() {
    this.inFlight = true;
    this.pending = false;
    this.onBusy(true);
    try {
      await this.run();
    } finally {
      this.inFlight = false;
      if (this.pending) this._start();
      else this.onBusy(false);
    }
  }
}
