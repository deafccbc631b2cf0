// ============================================================================
// tools.js: pointer input on the label canvas, the brush outline, shortcuts
//
// Pointer positions are converted to model pixels once, here; the painter only
// ever sees model coordinates. A stroke is one history step and, when it ends,
// one request for synthesis.
// ============================================================================

import { MAX_BRUSH, MIN_BRUSH } from "./painter.js";

export const TOOLS = {
  brush:      { key: "b", label: "Brush",      outline: true },
  line:       { key: "l", label: "Line",       outline: true },
  rect:       { key: "r", label: "Rectangle",  outline: false },
  fill:       { key: "f", label: "Fill",       outline: false },
  eyedropper: { key: "i", label: "Eyedropper", outline: false },
  eraser:     { key: "e", label: "Eraser",     outline: true },
};
export const DEFAULT_TOOL = "brush";
export const DEFAULT_BRUSH = 16;
const SIZE_STEP = 1.2;          // [ and ] scale the brush by this much above SMALL_BRUSH...
const SMALL_BRUSH = 8;          // ...and step by 1 px below it
const MIN_OUTLINE_PX = 5;       // smallest outline drawn on screen, so a 1 px brush is visible

export function nextBrushSize(size, direction) {
  const next = direction > 0
    ? (size < SMALL_BRUSH ? size + 1 : Math.round(size * SIZE_STEP))
    : (size <= SMALL_BRUSH ? size - 1 : Math.round(size / SIZE_STEP));
  return Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, next));
}

function isTextEntry(el) {
  if (!el) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !["range", "checkbox", "radio", "button", "file", "submit"].includes(el.type);
}

export class Tools {
  /**
   * @param opts.canvas       the label <canvas> (model resolution, CSS-scaled)
   * @param opts.cursor       element drawn as the brush outline
   * @param opts.painter      Painter
   * @param opts.history      History
   * @param opts.toolButtons  buttons with data-tool="brush" etc.
   * @param opts.sizeInputs   inputs (range, number) bound to the brush size
   * @param opts.getClass     () => id painted by brush/line/rect/fill
   * @param opts.getEraseClass () => id painted by the eraser
   * @param opts.onPick       (id) => void, the eyedropper's pick
   * @param opts.onCommit     () => void, after each change that made it into the history
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.tool = DEFAULT_TOOL;
    this.size = DEFAULT_BRUSH;
    this.stroke = null;   // {pointerId, id, x0, y0, x, y} while a pointer is down
    this._bindPointer();
    for (const b of this.toolButtons) b.addEventListener("click", () => this.setTool(b.dataset.tool));
    for (const input of this.sizeInputs) {
      input.min = MIN_BRUSH; input.max = MAX_BRUSH;
      input.addEventListener("input", () => {
        const v = Number.parseInt(input.value, 10);
        if (Number.isFinite(v)) this.setSize(v, input);
      });
    }
    this.setTool(DEFAULT_TOOL);
    this.setSize(DEFAULT_BRUSH);
  }

  // ---- state ---------------------------------------------------------------------------

  setTool(name) {
    if (!TOOLS[name]) return;
    // Remember the last painting tool so the eyedropper can hand back to it.
    if (this.tool && this.tool !== "eyedropper" && this.tool !== name) this.previousTool = this.tool;
    this.tool = name;
    for (const b of this.toolButtons) b.setAttribute("aria-pressed", String(b.dataset.tool === name));
    this.canvas.dataset.tool = name;
    this._updateOutline();
  }

  setSize(size, source = null) {
    this.size = Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, Math.round(size)));
    for (const input of this.sizeInputs) if (input !== source) input.value = String(this.size);
    this._updateOutline();
  }

  // ---- pointer -----------------------------------------------------------------------------

  /** Client coordinates -> continuous model pixel coordinates. */
  toModel(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    return [((clientX - r.left) * this.painter.width) / r.width, ((clientY - r.top) * this.painter.height) / r.height];
  }

  _bindPointer() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this._down(e));
    c.addEventListener("pointermove", (e) => { this._hover(e); this._move(e); });
    c.addEventListener("pointerup", (e) => this._up(e));
    c.addEventListener("pointercancel", (e) => this._up(e));
    c.addEventListener("pointerleave", () => { if (!this.stroke) { this._last = null; this.cursor.hidden = true; } });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  _down(e) {
    if (this.stroke || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    // Take focus from any text field so shortcuts (Ctrl+Z, B, ...) apply to the drawing.
    this.canvas.focus({ preventScroll: true });
    this.canvas.setPointerCapture(e.pointerId);
    const [x, y] = this.toModel(e.clientX, e.clientY);
    if (this.tool === "eyedropper") {
      const id = this.painter.idAt(x, y);
      if (id >= 0) this.onPick(id);
      return;
    }
    const id = this.tool === "eraser" ? this.getEraseClass() : this.getClass();
    this.stroke = { pointerId: e.pointerId, id, x0: x, y0: y, x, y };
    this.painter.beginChange();
    this._draw(x, y);
    if (this.tool === "fill") this._finish();
  }

  _move(e) {
    const s = this.stroke;
    if (!s || e.pointerId !== s.pointerId) return;
    // Coalesced events keep fast strokes continuous at high pointer rates.
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) this._draw(...this.toModel(ev.clientX, ev.clientY));
  }

  _up(e) {
    if (!this.stroke || e.pointerId !== this.stroke.pointerId) return;
    this._draw(...this.toModel(e.clientX, e.clientY));
    this._finish();
  }

  _draw(x, y) {
    const s = this.stroke, p = this.painter;
    switch (this.tool) {
      case "brush":
      case "eraser":
        p.segment(s.x, s.y, x, y, this.size, s.id);
        break;
      case "line":   // preview: start again from the map as it was, then draw the whole line
        p.restoreChange();
        p.segment(s.x0, s.y0, x, y, this.size, s.id);
        break;
      case "rect":
        p.restoreChange();
        p.rect(s.x0, s.y0, x, y, s.id);
        break;
      case "fill":
        p.fill(x, y, s.id);
        break;
    }
    s.x = x; s.y = y;
    p.flush();
  }

  _finish() {
    this.stroke = null;
    const patch = this.painter.endChange();
    if (patch) {
      this.history.push(patch);
      this.onCommit();
    }
  }

  get drawing() { return this.stroke !== null; }

  // ---- brush outline ---------------------------------------------------------------------------

  _hover(e) {
    this._last = [e.clientX, e.clientY];
    this._updateOutline();
  }

  _updateOutline() {
    const show = TOOLS[this.tool].outline && this._last;
    this.cursor.hidden = !show;
    if (!show) return;
    const r = this.canvas.getBoundingClientRect();
    const host = this.cursor.offsetParent ? this.cursor.offsetParent.getBoundingClientRect() : r;
    const d = Math.max(MIN_OUTLINE_PX, (this.size * r.width) / this.painter.width);
    Object.assign(this.cursor.style, {
      width: `${d}px`, height: `${d}px`,
      transform: `translate(${this._last[0] - host.left - d / 2}px, ${this._last[1] - host.top - d / 2}px)`,
    });
  }

  // ---- keyboard ------------------------------------------------------------------------------------

  /** B/L/R/F/I/E pick tools, [ and ] size the brush, Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y undo and redo. */
  bindShortcuts(target, { undo, redo }) {
    target.addEventListener("keydown", (e) => {
      if (e.defaultPrevented || isTextEntry(e.target) || this.drawing) return;
      const key = e.key.toLowerCase();
      if (e.ctrlKey || e.metaKey) {
        if (e.altKey) return;
        if (key === "z" && !e.shiftKey) undo();
        else if ((key === "z" && e.shiftKey) || key === "y") redo();
        else return;
        e.preventDefault();
        return;
      }
      if (e.altKey) return;
      if (key === "[" || key === "]") this.setSize(nextBrushSize(this.size, key === "]" ? 1 : -1));
      else {
        const tool = Object.keys(TOOLS).find((t) => TOOLS[t].key === key);
        if (!tool || e.shiftKey) return;
        this.setTool(tool);
      }
      e.preventDefault();
    });
  }
}
