// ============================================================================
// painter.js: the label map and everything that draws into it
//
// The source of truth is a Uint8Array of class ids at the model's resolution.
// Colours are only ever derived from it (one lookup per pixel into an ImageData),
// so the browser's anti-aliasing never reaches the ids the server sees.
// Every drawing call widens a dirty box; beginChange()/endChange() turn the
// difference into a compact patch for the history.
// ============================================================================

export const MIN_BRUSH = 1;
export const MAX_BRUSH = 128;
const UNKNOWN_COLOR = [24, 24, 28];   // ids outside the palette (e.g. don't care)
const STAMP_SPACING = 0.25;           // brush stamps per diameter along a stroke

export class Painter {
  /**
   * @param canvas  a <canvas> sized width x height (shown scaled by CSS)
   * @param labels  [{id, color: [r, g, b]}] from /api/model
   */
  constructor(canvas, width, height, labels) {
    this.canvas = canvas;
    this.width = canvas.width = width;
    this.height = canvas.height = height;
    this.ctx = canvas.getContext("2d");
    this.ids = new Uint8Array(width * height);
    this.image = this.ctx.createImageData(width, height);
    this.pixels = new Uint32Array(this.image.data.buffer);   // one RGBA word per pixel
    this.lut = new Uint32Array(256);
    const little = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    const pack = ([r, g, b]) => (little ? ((255 << 24) | (b << 16) | (g << 8) | r) : ((r << 24) | (g << 16) | (b << 8) | 255)) >>> 0;
    this.lut.fill(pack(UNKNOWN_COLOR));
    for (const l of labels) this.lut[l.id] = pack(l.color);
    this.listeners = new Set();
    this._before = null;
    this._resetDirty();
  }

  // ---- reading -------------------------------------------------------------------

  idAt(x, y) {
    x = Math.floor(x); y = Math.floor(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return -1;
    return this.ids[y * this.width + x];
  }

  /** Called with no arguments after every visible change (for mirrors, e.g. the overlay). */
  onRender(fn) { this.listeners.add(fn); }

  // ---- rendering -----------------------------------------------------------------

  _resetDirty() { this.dirty = { x0: Infinity, y0: Infinity, x1: -1, y1: -1 }; }

  _touch(x0, y0, x1, y1) {   // inclusive pixel bounds, already clipped
    const d = this.dirty;
    if (x0 < d.x0) d.x0 = x0; if (y0 < d.y0) d.y0 = y0;
    if (x1 > d.x1) d.x1 = x1; if (y1 > d.y1) d.y1 = y1;
  }

  /** Recolour a box of pixels from the ids and push it to the canvas. */
  renderRect(x0, y0, x1, y1) {
    x0 = Math.max(0, x0); y0 = Math.max(0, y0);
    x1 = Math.min(this.width - 1, x1); y1 = Math.min(this.height - 1, y1);
    if (x1 < x0 || y1 < y0) return;
    const { ids, pixels, lut, width } = this;
    for (let y = y0; y <= y1; y++) {
      for (let i = y * width + x0, end = y * width + x1; i <= end; i++) pixels[i] = lut[ids[i]];
    }
    this.ctx.putImageData(this.image, 0, 0, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    for (const fn of this.listeners) fn();
  }

  renderAll() { this.renderRect(0, 0, this.width - 1, this.height - 1); }

  /** Render what changed since the last flush. */
  flush() {
    const d = this.dirty;
    if (d.x1 >= d.x0) this.renderRect(d.x0, d.y0, d.x1, d.y1);
    this._resetDirty();
  }

  // ---- changes (for the history) ------------------------------------------------------

  /** Start a change: remember the ids so endChange() can diff against them. */
  beginChange() {
    this._before = this.ids.slice();
    this._change = { x0: Infinity, y0: Infinity, x1: -1, y1: -1 };
  }

  /** Put the ids back as they were at beginChange() (for live previews of shapes). */
  restoreChange() {
    if (!this._before) return;
    const c = this._change;
    this.ids.set(this._before);
    if (c.x1 >= c.x0) this._touch(c.x0, c.y0, c.x1, c.y1);
  }

  _grow(x0, y0, x1, y1) {
    this._touch(x0, y0, x1, y1);
    const c = this._change;
    if (c) {
      if (x0 < c.x0) c.x0 = x0; if (y0 < c.y0) c.y0 = y0;
      if (x1 > c.x1) c.x1 = x1; if (y1 > c.y1) c.y1 = y1;
    }
  }

  /** Finish a change; returns {x, y, w, h, before, after} or null when nothing changed. */
  endChange() {
    this.flush();
    const before = this._before, c = this._change;
    this._before = this._change = null;
    if (!before || c.x1 < c.x0) return null;
    const w = c.x1 - c.x0 + 1, h = c.y1 - c.y0 + 1;
    const patch = { x: c.x0, y: c.y0, w, h, before: new Uint8Array(w * h), after: new Uint8Array(w * h) };
    let changed = false;
    for (let y = 0; y < h; y++) {
      const src = (c.y0 + y) * this.width + c.x0;
      patch.before.set(before.subarray(src, src + w), y * w);
      patch.after.set(this.ids.subarray(src, src + w), y * w);
    }
    for (let i = 0; i < patch.before.length && !changed; i++) changed = patch.before[i] !== patch.after[i];
    return changed ? patch : null;
  }

  /** Write one side of a patch back into the map (undo: "before", redo: "after"). */
  applyPatch(patch, side) {
    const data = patch[side];
    for (let y = 0; y < patch.h; y++) this.ids.set(data.subarray(y * patch.w, (y + 1) * patch.w), (patch.y + y) * this.width + patch.x);
    this.renderRect(patch.x, patch.y, patch.x + patch.w - 1, patch.y + patch.h - 1);
  }

  // ---- drawing primitives -------------------------------------------------------------
  // Coordinates are in model pixels, continuous (pixel (i, j) covers [i, i+1) x [j, j+1)).

  /** A round stamp of the given diameter centred at (cx, cy). */
  stamp(cx, cy, size, id) {
    const r = Math.max(0.5, size / 2);
    const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(this.width - 1, Math.ceil(cx + r) - 1);
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(this.height - 1, Math.ceil(cy + r) - 1);
    if (x1 < x0 || y1 < y0) return;
    const r2 = r * r;
    const { ids, width } = this;
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      for (let x = x0; x <= x1; x++) {
        const dx = x + 0.5 - cx;
        if (dx * dx + dy * dy <= r2) ids[y * width + x] = id;
      }
    }
    // The pixel under the centre is always painted, so a 1 px brush is never a no-op.
    const px = Math.floor(cx), py = Math.floor(cy);
    if (px >= 0 && py >= 0 && px < width && py < this.height) ids[py * width + px] = id;
    this._grow(x0, y0, x1, y1);
  }

  /** Stamps from (x0, y0) to (x1, y1), close enough together to read as one stroke. */
  segment(x0, y0, x1, y1, size, id) {
    const dist = Math.hypot(x1 - x0, y1 - y0);
    const step = Math.max(0.5, size * STAMP_SPACING);
    const n = Math.max(1, Math.ceil(dist / step));
    for (let i = 0; i <= n; i++) this.stamp(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, size, id);
  }

  /** A filled axis-aligned rectangle between two corner points (inclusive of both pixels). */
  rect(xa, ya, xb, yb, id) {
    const x0 = Math.max(0, Math.floor(Math.min(xa, xb))), x1 = Math.min(this.width - 1, Math.floor(Math.max(xa, xb)));
    const y0 = Math.max(0, Math.floor(Math.min(ya, yb))), y1 = Math.min(this.height - 1, Math.floor(Math.max(ya, yb)));
    if (x1 < x0 || y1 < y0) return;
    for (let y = y0; y <= y1; y++) this.ids.fill(id, y * this.width + x0, y * this.width + x1 + 1);
    this._grow(x0, y0, x1, y1);
  }

  /** 4-connected flood fill of the region of equal ids containing (x, y). Scanline fill. */
  fill(x, y, id) {
    x = Math.floor(x); y = Math.floor(y);
    const { ids, width, height } = this;
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const target = ids[y * width + x];
    if (target === id) return;
    let bx0 = x, bx1 = x, by0 = y, by1 = y;
    const stack = [x, y];
    while (stack.length) {
      const sy = stack.pop(), sx = stack.pop();
      let l = sx, r = sx;
      const row = sy * width;
      if (ids[row + sx] !== target) continue;
      while (l > 0 && ids[row + l - 1] === target) l--;
      while (r < width - 1 && ids[row + r + 1] === target) r++;
      ids.fill(id, row + l, row + r + 1);
      if (l < bx0) bx0 = l; if (r > bx1) bx1 = r; if (sy < by0) by0 = sy; if (sy > by1) by1 = sy;
      for (const ny of [sy - 1, sy + 1]) {
        if (ny < 0 || ny >= height) continue;
        const nrow = ny * width;
        for (let i = l; i <= r; i++) {
          // Push one seed per run of target pixels in the neighbouring row.
          if (ids[nrow + i] === target && (i === l || ids[nrow + i - 1] !== target)) stack.push(i, ny);
        }
      }
    }
    this._grow(bx0, by0, bx1, by1);
  }

  /** Every pixel to one class. */
  clear(id) {
    this.ids.fill(id);
    this._grow(0, 0, this.width - 1, this.height - 1);
  }

  /** Replace the whole map (a loaded file or scene). */
  setIds(ids) {
    if (ids.length !== this.ids.length) throw new Error(`label map has ${ids.length} pixels, expected ${this.ids.length}`);
    this.ids.set(ids);
    this._grow(0, 0, this.width - 1, this.height - 1);
  }
}
