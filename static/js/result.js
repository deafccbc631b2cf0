// ============================================================================
// result.js: the synthesized image, the label-map overlay to compare with it,
// and downloads
// ============================================================================

const EXTENSIONS = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

/** Save a Blob under a file name through a temporary <a download>. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export class ResultView {
  /**
   * @param el {figure, image, overlay, opacity, opacityOutput, caption, placeholder, download}
   */
  constructor(el, width, height) {
    this.el = el;
    this.blob = null;
    this.seed = null;
    this.url = null;
    el.overlay.width = width;
    el.overlay.height = height;
    this.overlayCtx = el.overlay.getContext("2d");
    el.opacity.addEventListener("input", () => this._applyOpacity());
    el.download.addEventListener("click", () => this.download());
    this._applyOpacity();
    this.setBusy(false);
  }

  _applyOpacity() {
    const v = Number(this.el.opacity.value);
    this.el.overlay.style.opacity = String(v);
    this.el.opacityOutput.value = `${Math.round(v * 100)}%`;
  }

  setBusy(busy) {
    this.el.figure.setAttribute("aria-busy", String(busy));
    this.el.figure.classList.toggle("sp-is-busy", busy);
  }

  /**
   * Show a new result.
   * @param labelSource  canvas holding the label map the result was made from (copied for the overlay)
   */
  show({ blob, seed, ms }, labelSource, styleText) {
    if (this.url) URL.revokeObjectURL(this.url);
    this.blob = blob;
    this.seed = seed;
    this.url = URL.createObjectURL(blob);
    this.el.image.src = this.url;
    this.el.image.hidden = false;
    this.el.placeholder.hidden = true;
    this.overlayCtx.clearRect(0, 0, this.el.overlay.width, this.el.overlay.height);
    this.overlayCtx.drawImage(labelSource, 0, 0);
    this.el.download.disabled = false;
    const parts = [styleText];
    if (seed !== null) parts.push(`seed ${seed}`);
    if (Number.isFinite(ms)) parts.push(`${Math.round(ms)} ms`);
    this.el.caption.textContent = parts.filter(Boolean).join(" · ");
  }

  download() {
    if (!this.blob) return;
    const ext = EXTENSIONS[this.blob.type] || "png";
    downloadBlob(this.blob, `spade-result${this.seed !== null ? `-seed${this.seed}` : ""}.${ext}`);
  }
}
