// ============================================================================
// style.js: what the result should look like
//
// A style is a preset (from /api/styles), an uploaded photo, or random (a style
// code drawn from the seed). A second style and the mix slider blend toward it;
// without a second style the blend goes toward the random code of seed + 1.
// ============================================================================

export const MAX_SEED = 2 ** 32 - 1;   // the server's limit
const RANDOM = "random";
const UPLOAD = "upload";

export function randomSeed() {
  return Math.floor(Math.random() * 1_000_000);   // short enough to read and type
}

/**
 * A copy of a picked file held in memory: later requests keep working even if the file
 * on disk changes or goes away (a File from <input> is only a reference to it).
 */
async function inMemory(file) {
  return new File([await file.arrayBuffer()], file.name, { type: file.type, lastModified: file.lastModified });
}

function humanize(name) {
  return name.replace(/[_-]+/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

function describe(preset) {
  return [preset.time_of_day, preset.season, preset.weather].filter(Boolean).join(" · ");
}

export class StylePanel {
  /**
   * @param el            {gallery, current, file, drop, randomButton, seed, mix, mixOutput, mixTarget, mixFile, note}
   * @param presets       [{name, url, time_of_day, season, weather}]
   * @param supportsStyle false for models without a style encoder: only the seed matters then
   * @param onChange      () => void after any change a new result should reflect
   * @param onError       (message) => void for files that cannot be used
   */
  constructor({ el, presets, supportsStyle, onChange, onError }) {
    Object.assign(this, { el, presets, supportsStyle, onChange, onError });
    this.primary = { kind: RANDOM };
    this.mixUpload = null;   // File chosen as the second style
    this.tiles = new Map();
    this._buildGallery();
    this._buildMixTarget();
    this._bind();
    this.setSeed(randomSeed());
    this._updateMixLabel();
    if (!supportsStyle) this._disableStyles();
  }

  // ---- building ------------------------------------------------------------------------

  _tile(key, text, detail, image) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "sp-style-tile";
    b.dataset.style = key;
    b.setAttribute("aria-pressed", "false");
    b.setAttribute("aria-label", text);
    b.title = detail ? `${text}: ${detail}` : text;
    b.dataset.label = text;
    b.dataset.detail = detail;
    const pic = document.createElement("span");
    pic.className = "sp-style-tile__pic";
    pic.setAttribute("aria-hidden", "true");
    if (image) {
      const img = document.createElement("img");
      img.src = image; img.alt = ""; img.loading = "lazy"; img.decoding = "async";
      pic.append(img);
    } else pic.classList.add(`sp-style-tile__pic--${key}`);
    b.append(pic);
    this.tiles.set(key, b);
    return b;
  }

  _buildGallery() {
    const g = this.el.gallery;
    g.replaceChildren();
    g.append(this._tile(RANDOM, "Random", "a style drawn from the seed"));
    for (const p of this.presets) {
      const tile = this._tile(`preset:${p.name}`, humanize(p.name), describe(p), p.url);
      tile.addEventListener("click", () => this.choose({ kind: "preset", name: p.name }));
      g.append(tile);
    }
    this.tiles.get(RANDOM).addEventListener("click", () => this.choose({ kind: RANDOM }));
    this._markSelected();
  }

  _buildMixTarget() {
    const s = this.el.mixTarget;
    s.replaceChildren(new Option("Random (seed + 1)", RANDOM));
    for (const p of this.presets) s.append(new Option(humanize(p.name), `preset:${p.name}`));
    if (this.mixUpload) s.append(new Option(`Your image: ${this.mixUpload.name}`, UPLOAD, false, true));
  }

  _bind() {
    const { el } = this;
    el.file.addEventListener("change", () => {
      if (el.file.files.length) this.useUpload(el.file.files[0]);
      el.file.value = "";
    });
    el.randomButton.addEventListener("click", () => this.randomize());
    el.seed.addEventListener("change", () => {
      const v = this.seed;
      if (v === null) { this.onError(`The seed must be a whole number from 0 to ${MAX_SEED}.`); return; }
      this.onChange();
    });
    el.mix.addEventListener("input", () => { this._updateMixLabel(); this.onChange(); });
    el.mixTarget.addEventListener("change", () => this.onChange());
    el.mixFile.addEventListener("change", async () => {
      const f = el.mixFile.files[0];
      el.mixFile.value = "";
      if (!f || !this._isImage(f)) return;
      try { this.mixUpload = await inMemory(f); } catch {
        this.onError(`Could not read ${f.name}.`);
        return;
      }
      this._buildMixTarget();
      if (Number(el.mix.value) === 0) { el.mix.value = "0.5"; this._updateMixLabel(); }
      this.onChange();
    });
    // Drag and drop a photo anywhere on the style area.
    const zone = el.drop;
    zone.addEventListener("dragover", (e) => {
      if (!this.supportsStyle || ![...e.dataTransfer.types].includes("Files")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      zone.classList.add("sp-is-dragover");
    });
    zone.addEventListener("dragleave", (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove("sp-is-dragover"); });
    zone.addEventListener("drop", (e) => {
      zone.classList.remove("sp-is-dragover");
      if (!this.supportsStyle) return;
      e.preventDefault();
      const f = e.dataTransfer.files[0];
      if (f) this.useUpload(f);
    });
  }

  _disableStyles() {
    for (const b of this.tiles.values()) if (b.dataset.style !== RANDOM) b.disabled = true;
    for (const c of [this.el.file, this.el.mix, this.el.mixTarget, this.el.mixFile]) c.disabled = true;
    this.el.note.hidden = false;
  }

  _isImage(file) {
    if (file.type && !file.type.startsWith("image/")) {
      this.onError(`${file.name} is not an image; choose a JPEG, PNG or WebP photo.`);
      return false;
    }
    return true;
  }

  // ---- choices --------------------------------------------------------------------------------

  choose(primary) {
    this.primary = primary;
    this._markSelected();
    this.onChange();
  }

  /** A fresh random style: new seed, random style code. */
  randomize() {
    this.setSeed(randomSeed());
    this.choose({ kind: RANDOM });
  }

  async useUpload(file) {
    if (!this._isImage(file)) return;
    try { file = await inMemory(file); } catch {
      this.onError(`Could not read ${file.name}.`);
      return;
    }
    if (this.primary.kind === UPLOAD) URL.revokeObjectURL(this.primary.url);
    const url = URL.createObjectURL(file);
    let tile = this.tiles.get(UPLOAD);
    if (!tile) {
      tile = this._tile(UPLOAD, "Your image", "", url);
      tile.addEventListener("click", () => { if (this.upload) this.choose(this.upload); });
      this.el.gallery.insertBefore(tile, this.tiles.get(RANDOM).nextSibling);
    } else tile.querySelector("img").src = url;
    tile.title = `Your image: ${file.name}`;
    tile.dataset.detail = file.name;
    this.upload = { kind: UPLOAD, file, url };
    this.choose(this.upload);
  }

  _markSelected() {
    const key = this.primary.kind === "preset" ? `preset:${this.primary.name}` : this.primary.kind;
    for (const [k, b] of this.tiles) b.setAttribute("aria-pressed", String(k === key));
    const tile = this.tiles.get(key);
    if (tile && this.el.current) {
      this.el.current.replaceChildren(tile.dataset.label);
      if (tile.dataset.detail) {
        const detail = document.createElement("span");
        detail.className = "sp-style-current__detail";
        detail.textContent = tile.dataset.detail;
        this.el.current.append(" ", detail);
      }
    }
  }

  _updateMixLabel() {
    this.el.mixOutput.value = `${Math.round(Number(this.el.mix.value) * 100)}%`;
  }

  // ---- seed ---------------------------------------------------------------------------------------

  get seed() {
    const text = this.el.seed.value.trim();
    if (!/^\d+$/.test(text)) return null;
    const v = Number(text);
    return v <= MAX_SEED ? v : null;
  }

  setSeed(seed) { this.el.seed.value = String(seed); }

  // ---- the request ------------------------------------------------------------------------------------

  /** Add seed, style and mixing fields to a /synthesize form. */
  appendTo(form) {
    const seed = this.seed;
    if (seed !== null) form.append("seed", String(seed));
    if (!this.supportsStyle) return;
    if (this.primary.kind === "preset") form.append("style_preset", this.primary.name);
    else if (this.primary.kind === UPLOAD) form.append("style", this.primary.file, this.primary.file.name);
    const mix = Number(this.el.mix.value);
    if (mix > 0) {
      form.append("mix", String(mix));
      const target = this.el.mixTarget.value;
      if (target.startsWith("preset:")) form.append("mix_preset", target.slice("preset:".length));
      else if (target === UPLOAD && this.mixUpload) form.append("mix_style", this.mixUpload, this.mixUpload.name);
    }
  }

  /** A short description of the current style, for the result caption. */
  summary() {
    const p = this.primary;
    let text = p.kind === "preset" ? humanize(p.name) : p.kind === UPLOAD ? "your image" : "random style";
    const mix = Number(this.el.mix.value);
    if (this.supportsStyle && mix > 0) {
      const opt = this.el.mixTarget.selectedOptions[0];
      text += ` → ${Math.round(mix * 100)}% ${opt ? opt.textContent.toLowerCase() : ""}`;
    }
    return text;
  }
}
