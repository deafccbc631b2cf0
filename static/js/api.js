// ============================================================================
// api.js: the server's HTTP API, and its errors in plain words
// ============================================================================

export const ENDPOINTS = {
  model: "/api/model",
  styles: "/api/styles",
  scene: "/api/scene",
  synthesize: "/synthesize",
};

// What each refusal means for someone painting; the server's own detail follows it.
const STATUS_WORDS = {
  400: "The server could not read the request.",
  404: "The server does not offer this.",
  413: "That file is too large for the server.",
  415: "The server cannot read that kind of file.",
  422: "The server could not use this input.",
  429: "The server is handling too many requests; trying again shortly will work.",
  500: "The server hit an internal error.",
  503: "The server is busy or still loading the model; try again in a moment.",
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || STATUS_WORDS[status] || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

/** fetch() itself failed: the server is down or the connection dropped. */
export class NetworkError extends Error {}

/** One sentence for the status area, whatever went wrong. */
export function describeError(err) {
  if (err instanceof ApiError) {
    const words = STATUS_WORDS[err.status] || `The server answered with an error (HTTP ${err.status}).`;
    return err.detail && err.detail !== words ? `${words} ${err.detail}` : words;
  }
  if (err && err.name === "AbortError") return "The request was cancelled.";
  if (err instanceof NetworkError) return "Cannot reach the server. Is it still running?";
  return (err && err.message) || String(err);
}

/** Turn FastAPI's {"detail": ...} (a string or a list of validation errors) into text. */
async function detailOf(response) {
  try {
    const body = await response.clone().json();
    const d = body && body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => [e.loc && e.loc.slice(1).join("."), e.msg].filter(Boolean).join(": ")).join("; ");
    if (d) return JSON.stringify(d);
  } catch { /* not JSON */ }
  try {
    const text = (await response.text()).trim();
    return text.length < 300 ? text : "";
  } catch { return ""; }
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new NetworkError(String(err && err.message));
  }
  if (!response.ok) throw new ApiError(response.status, await detailOf(response));
  return response;
}

// ---- endpoints --------------------------------------------------------------------

/** {name, size: [H, W], supports_style, dontcare, labels: [{id, name, color, group}]} */
export async function getModel() {
  return (await request(ENDPOINTS.model)).json();
}

/** [{name, url, time_of_day, season, weather}] */
export async function getStyles() {
  return (await request(ENDPOINTS.styles)).json();
}

/** A procedural scene: {blob (class-id PNG), seed}. */
export async function getScene(seed) {
  const query = Number.isInteger(seed) ? `?seed=${seed}` : "";
  const response = await request(ENDPOINTS.scene + query);
  return { blob: await response.blob(), seed: intHeader(response, "X-Seed") };
}

/** POST the form; returns {blob, seed, ms}. */
export async function synthesize(form, signal) {
  const response = await request(ENDPOINTS.synthesize, { method: "POST", body: form, signal });
  return {
    blob: await response.blob(),
    seed: intHeader(response, "X-Seed"),
    ms: Number.parseFloat(response.headers.get("X-Inference-Time-Ms")),
  };
}

function intHeader(response, name) {
  const v = Number.parseInt(response.headers.get(name), 10);
  return Number.isFinite(v) ? v : null;
}
