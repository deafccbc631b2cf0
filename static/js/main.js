// ============================================================================
// main.js: start-up and wiring
//
// 1. ask the server what the model is (size, classes, style support)
// 2. build the painter, history, palette, tools, style panel and result view
// 3. load a default scene and synthesize it
// Each module does one job; this file only connects their callbacks.
// ============================================================================

import { ApiError, describeError, getModel, getScene, getStyles, synthesize } from "./api.js";
import { History } from "./history.js";
import { Painter } from "./painter.js";
import { cssColor, Palette } from "./palette.js";
import { encodeGray8, readLabelFile } from "./png.js";
import { downloadBlob, ResultView } from "./result.js";
import { Status } from "./status.js";
import { randomSeed, StylePanel } from "./style.js";
import { SynthScheduler } from "./synth.js";
import { Tools } from "./tools.js";

const DEFAULT_CLASS_NAMES = ["grass", "tree", "mountain"];   // first present one is the starting class
const DEFAULT_ERASE_NAMES = ["sky"];
const LABEL_FILENAME = "label-map.png";
const MODEL_RETRY_MS = 500;         // first wait while the server loads the model...
const MODEL_WAIT_MS = 5 * 60_000;   // ...and how long to keep trying

const $ = (id) => document.getElementById(id);

function idByName(labels, names, fallback) {
  for (const n of names) {
    const l = labels.find((x) => x.name === n);
    if (l) return l.id;
  }
  return fallback;
}

/** A simple scene (sky, mountains, grass, sea) for when the server has no /api/scene. */
function fallbackScene(labels, width, height) {
  const id = (name, fb = 0) => idByName(labels, [name], fb);
  const sky = id("sky"), mountain = id("mountain", sky), grass = id("grass", mountain), sea = id("sea", grass);
  const ids = new Uint8Array(width * height);
  for (let x = 0; x < width; x++) {
    const t = x / width;
    const ridge = height * (0.42 + 0.08 * Math.sin(t * 7.1) + 0.05 * Math.sin(t * 17.3 + 1));
    const shore = height * (0.68 + 0.03 * Math.sin(t * 5.3 + 2));
    for (let y = 0; y < height; y++) {
      ids[y * width + x] = y < ridge ? sky : y < height * 0.6 ? mountain : y < shore ? grass : sea;
    }
  }
  return ids;
}

/** /api/model, retried while the server answers 503 (the model is still loading). */
async function waitForModel(status) {
  const started = Date.now();
  for (let delay = MODEL_RETRY_MS; ; delay = Math.min(delay * 1.5, 5000)) {
    try {
      return await getModel();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 503) || Date.now() - started > MODEL_WAIT_MS) {
        status.info("");
        status.error(`Could not load the model description. ${describeError(err)} Reload the page to try again.`);
        return null;
      }
      status.info("Waiting for the model to load…");
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function boot() {
  // ---- 1. the model ------------------------------------------------------------------
  const status = new Status({ status: $("sp-status"), alert: $("sp-alert"), alertText: $("sp-alert-text"), dismiss: $("sp-alert-dismiss") });
  const model = await waitForModel(status);
  if (!model) return;
  const [H, W] = model.size;
  const labels = model.labels;
  document.documentElement.style.setProperty("--sp-ar", String(W / H));
  $("sp-model-name").textContent = model.name;
  $("sp-model-size").textContent = `${W}×${H}`;

  // ---- 2. the parts ----------------------------------------------------------------------
  const painter = new Painter($("sp-labels"), W, H, labels);
  const history = new History(painter);
  let classId = idByName(labels, DEFAULT_CLASS_NAMES, labels[0].id);
  let eraseId = idByName(labels, DEFAULT_ERASE_NAMES, labels[0].id);
  const stats = { requests: 0, results: 0, errors: 0 };

  const palette = new Palette($("sp-palette"), labels, (id) => setClass(id));
  const eraserSelect = $("sp-eraser-class");
  palette.fillSelect(eraserSelect, eraseId);
  eraserSelect.addEventListener("change", () => { eraseId = Number(eraserSelect.value); });

  function setClass(id) {
    if (!palette.select(id)) return;
    classId = id;
    const l = palette.label(id);
    $("sp-current-chip").style.background = cssColor(l.color);
    $("sp-current-name").textContent = l.name;
  }
  setClass(classId);

  const result = new ResultView({
    figure: $("sp-result-figure"), image: $("sp-result"), overlay: $("sp-overlay"),
    opacity: $("sp-overlay-opacity"), opacityOutput: $("sp-overlay-output"),
    caption: $("sp-result-caption"), placeholder: $("sp-result-placeholder"), download: $("sp-download-result"),
  }, W, H);

  let presets = [];
  try { presets = await getStyles(); } catch (err) {
    status.error(`Style presets are unavailable. ${describeError(err)}`);
  }
  const style = new StylePanel({
    el: {
      gallery: $("sp-style-gallery"), current: $("sp-style-current"), file: $("sp-style-file"), drop: $("sp-style-area"),
      randomButton: $("sp-random-style"), seed: $("sp-seed"), mix: $("sp-mix"), mixOutput: $("sp-mix-output"),
      mixTarget: $("sp-mix-target"), mixFile: $("sp-mix-file"), note: $("sp-style-note"),
    },
    presets, supportsStyle: Boolean(model.supports_style),
    onChange: () => changed(),
    onError: (message) => status.error(message),
  });

  // ---- synthesis --------------------------------------------------------------------------
  const auto = $("sp-auto");

  async function runSynthesis() {
    try {
      // Everything is read now, so a request always carries the newest drawing.
      const ids = painter.ids.slice();
      const snapshot = new OffscreenCanvas(W, H);
      snapshot.getContext("2d").drawImage(painter.canvas, 0, 0);
      const form = new FormData();
      form.append("labels", await encodeGray8(ids, W, H), LABEL_FILENAME);
      style.appendTo(form);
      const styleText = style.summary();
      stats.requests++;
      const res = await synthesize(form);
      result.show(res, snapshot, styleText);
      if (style.seed === null && res.seed !== null) style.setSeed(res.seed);
      stats.results++;
      status.clearError();   // the time is in the result's caption; the status keeps the last action
    } catch (err) {
      stats.errors++;
      status.error(describeError(err));
    }
  }

  const synth = new SynthScheduler(runSynthesis, (busy) => {
    result.setBusy(busy);
    $("sp-busy").hidden = !busy;
  });
  const changed = () => { if (auto.checked) synth.request(); };
  auto.addEventListener("change", () => changed());
  $("sp-synthesize").addEventListener("click", () => synth.now());

  // ---- tools and history -----------------------------------------------------------------------
  const tools = new Tools({
    canvas: painter.canvas, cursor: $("sp-cursor"), painter, history,
    toolButtons: [...document.querySelectorAll(".sp-tool")],
    sizeInputs: [$("sp-brush-size"), $("sp-brush-size-number")],
    getClass: () => classId,
    getEraseClass: () => eraseId,
    onPick: (id) => {
      setClass(id);
      status.info(`Picked ${palette.label(id).name}.`);
      tools.setTool(tools.previousTool || "brush");
    },
    onCommit: changed,
  });
  const undo = () => { if (history.undo()) changed(); };
  const redo = () => { if (history.redo()) changed(); };
  tools.bindShortcuts(document, { undo, redo });
  $("sp-undo").addEventListener("click", undo);
  $("sp-redo").addEventListener("click", redo);
  history.onChange(() => {
    $("sp-undo").disabled = !history.canUndo;
    $("sp-redo").disabled = !history.canRedo;
  });

  /** Replace the whole map as one undoable step. */
  function replaceMap(ids) {
    painter.beginChange();
    painter.setIds(ids);
    history.push(painter.endChange());
  }

  $("sp-clear").addEventListener("click", () => {
    painter.beginChange();
    painter.clear(classId);
    const patch = painter.endChange();
    if (patch) { history.push(patch); changed(); }
  });

  // ---- scenes and files --------------------------------------------------------------------------
  const fileOptions = { labels, dontcare: model.dontcare ?? null, width: W, height: H };

  async function loadScene(seed, { quiet = false } = {}) {
    try {
      const scene = await getScene(seed);
      const { ids } = await readLabelFile(scene.blob, fileOptions);
      replaceMap(ids);
      $("sp-label-meta").textContent = scene.seed !== null ? `scene ${scene.seed}` : "";
      return true;
    } catch (err) {
      if (!quiet) status.error(`Could not load a scene. ${describeError(err)}`);
      return false;
    }
  }

  $("sp-random-scene").addEventListener("click", async () => {
    if (await loadScene(randomSeed())) changed();
  });

  async function openLabelFile(file) {
    try {
      const { ids, note } = await readLabelFile(file, fileOptions);
      replaceMap(ids);
      $("sp-label-meta").textContent = file.name;
      status.clearError();
      status.info(`Opened ${file.name}${note ? ` (${note})` : ""}.`);
      changed();
    } catch (err) {
      status.error(`Could not open ${file.name}: ${err.message}`);
    }
  }

  const labelInput = $("sp-label-file");
  labelInput.addEventListener("change", () => {
    const f = labelInput.files[0];
    labelInput.value = "";
    if (f) openLabelFile(f);
  });
  const frame = $("sp-label-frame");
  frame.addEventListener("dragover", (e) => {
    if (![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    frame.classList.add("sp-is-dragover");
  });
  frame.addEventListener("dragleave", () => frame.classList.remove("sp-is-dragover"));
  frame.addEventListener("drop", (e) => {
    frame.classList.remove("sp-is-dragover");
    e.preventDefault();
    if (e.dataTransfer.files[0]) openLabelFile(e.dataTransfer.files[0]);
  });

  $("sp-download-labels").addEventListener("click", async () => {
    downloadBlob(await encodeGray8(painter.ids, W, H), LABEL_FILENAME);
  });

  // ---- 3. a scene to start from --------------------------------------------------------------------
  if (!(await loadScene(undefined, { quiet: true }))) {
    replaceMap(fallbackScene(labels, W, H));
    $("sp-label-meta").textContent = "built-in scene";
  }
  history.reset();   // the starting scene is not an undoable step
  status.info("Ready. Paint on the label map; the result updates as you go.");
  synth.now();

  // ---- test hook -------------------------------------------------------------------------------------
  window.spadeApp = {
    ready: true,
    width: W,
    height: H,
    labels,
    stats,
    ids: () => Array.from(painter.ids),
    idAt: (x, y) => painter.idAt(x, y),
    histogram: () => {
      const counts = {};
      for (const v of painter.ids) counts[v] = (counts[v] || 0) + 1;
      return counts;
    },
    get tool() { return tools.tool; },
    get brushSize() { return tools.size; },
    get classId() { return classId; },
    get eraseId() { return eraseId; },
    get busy() { return synth.inFlight || synth.timer !== null; },
    get historyDepth() { return history.done.length; },
  };
  document.documentElement.dataset.ready = "true";
}

boot();
