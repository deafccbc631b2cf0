// ============================================================================
// history.js: undo / redo as patches of the label map
//
// Each entry is the box a change touched, with the ids before and after, so a
// brush dab costs a few hundred bytes and a whole-map change one map's worth.
// ============================================================================

export const HISTORY_LIMIT = 100;   // steps kept (the page promises at least 50)

export class History {
  constructor(painter, limit = HISTORY_LIMIT) {
    this.painter = painter;
    this.limit = limit;
    this.done = [];
    this.undone = [];
    this.listeners = new Set();
  }

  /** Called after every push / undo / redo / reset, e.g. to enable the buttons. */
  onChange(fn) { this.listeners.add(fn); }
  _emit() { for (const fn of this.listeners) fn(this); }

  get canUndo() { return this.done.length > 0; }
  get canRedo() { return this.undone.length > 0; }

  push(patch) {
    if (!patch) return;
    this.done.push(patch);
    if (this.done.length > this.limit) this.done.shift();
    this.undone.length = 0;
    this._emit();
  }

  undo() {
    const patch = this.done.pop();
    if (!patch) return false;
    this.painter.applyPatch(patch, "before");
    this.undone.push(patch);
    this._emit();
    return true;
  }

  redo() {
    const patch = this.undone.pop();
    if (!patch) return false;
    this.painter.applyPatch(patch, "after");
    this.done.push(patch);
    this._emit();
    return true;
  }

  reset() {
    this.done.length = 0;
    this.undone.length = 0;
    this._emit();
  }
}
