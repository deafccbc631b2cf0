// ============================================================================
// png.js: label maps in and out as PNG files
//
// Out: a single-channel 8-bit PNG whose pixel values are class ids. The encoder
// is hand-written (zlib via CompressionStream('deflate'), or 'stored' blocks where
// that is missing) so the bytes are exactly the ids: no canvas, no colour
// management, no anti-aliasing can touch them.
//
// In: greyscale and indexed PNGs are decoded here too (value / index = class id,
// 8 or 16 bit); anything else (RGB PNG in palette colours, ...) is drawn to a
// canvas with colour conversion off and mapped back to ids by exact colour.
// ============================================================================

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const COLOR_TYPE_GREY = 0;
const COLOR_TYPE_INDEXED = 3;
const COLOR_TYPE_GREY_ALPHA = 4;
const STORED_BLOCK_MAX = 65535;   // deflate's limit for one stored block
const MAX_EXAMPLES = 4;           // unknown colours / ids named in an error message

// ---- checksums --------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes, crc = 0xffffffff) {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

function adler32(bytes) {
  let a = 1, b = 0;
  const MOD = 65521, CHUNK = 5552;   // largest run before the sums can overflow 2^32
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(i + CHUNK, bytes.length);
    for (; i < end; i++) { a += bytes[i]; b += a; }
    a %= MOD; b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}

// ---- zlib -----------------------------------------------------------------------

/** zlib stream of 'stored' (uncompressed) deflate blocks: always available, exact. */
export function zlibStored(raw) {
  const blocks = Math.max(1, Math.ceil(raw.length / STORED_BLOCK_MAX));
  const out = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  let o = 0;
  out[o++] = 0x78; out[o++] = 0x01;   // deflate, 32K window, no preset dictionary
  for (let b = 0; b < blocks; b++) {
    const start = b * STORED_BLOCK_MAX;
    const len = Math.min(STORED_BLOCK_MAX, raw.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0;   // BFINAL, BTYPE=00
    out[o++] = len & 0xff; out[o++] = len >>> 8;
    out[o++] = ~len & 0xff; out[o++] = (~len >>> 8) & 0xff;
    out.set(raw.subarray(start, start + len), o);
    o += len;
  }
  const adler = adler32(raw);
  out[o++] = adler >>> 24; out[o++] = (adler >>> 16) & 0xff; out[o++] = (adler >>> 8) & 0xff; out[o++] = adler & 0xff;
  return out;
}

async function pipeBytes(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function zlibCompress(raw) {
  if (typeof CompressionStream === "function") {
    try { return await pipeBytes(raw, new CompressionStream("deflate")); } catch { /* fall through */ }
  }
  return zlibStored(raw);
}

async function zlibInflate(bytes) {
  if (typeof DecompressionStream !== "function") throw new Error("this browser cannot decompress PNG data");
  return pipeBytes(bytes, new DecompressionStream("deflate"));
}

// ---- encoding -------------------------------------------------------------------

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

/** The raw scanlines of an 8-bit single-channel image: filter byte 0 + the row. */
function scanlines(values, width, height) {
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(values.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return raw;
}

/** Encode (H*W) class ids as a greyscale 8-bit PNG. Returns a Blob (image/png). */
export async function encodeGray8(values, width, height, { compress = true } = {}) {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width); view.setUint32(4, height);
  ihdr[8] = 8; ihdr[9] = COLOR_TYPE_GREY;   // bit depth, colour type; compression/filter/interlace = 0
  const raw = scanlines(values, width, height);
  const idat = compress ? await zlibCompress(raw) : zlibStored(raw);
  return new Blob([new Uint8Array(PNG_SIGNATURE), chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))],
                  { type: "image/png" });
}

// ---- decoding greyscale / indexed PNGs -------------------------------------------

function readChunks(bytes) {
  for (let i = 0; i < 8; i++) if (bytes[i] !== PNG_SIGNATURE[i]) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info = { idat: [] };
  for (let o = 8; o + 8 <= bytes.length; ) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    const data = bytes.subarray(o + 8, o + 8 + len);
    if (type === "IHDR") {
      info.width = view.getUint32(o + 8); info.height = view.getUint32(o + 12);
      info.bitDepth = data[8]; info.colorType = data[9]; info.interlace = data[12];
    } else if (type === "IDAT") info.idat.push(data);
    else if (type === "IEND") break;
    o += 12 + len;
  }
  return info.width ? info : null;
}

function paeth(a, b, c) {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undo PNG's per-row filters in place; returns the rows without their filter bytes. */
function unfilter(data, height, stride, bpp) {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = data[y * (stride + 1)];
    const src = y * (stride + 1) + 1, dst = y * stride, up = dst - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[dst + x - bpp] : 0;
      const b = y > 0 ? out[up + x] : 0;
      const c = x >= bpp && y > 0 ? out[up + x - bpp] : 0;
      const v = data[src + x];
      out[dst + x] = (filter === 0 ? v : filter === 1 ? v + a : filter === 2 ? v + b
                    : filter === 3 ? v + ((a + b) >> 1) : v + paeth(a, b, c)) & 0xff;
    }
  }
  return out;
}

/**
 * Decode a non-interlaced greyscale (any depth, optional alpha) or indexed PNG to its
 * raw sample values: the grey level or the palette index. Returns null for other kinds.
 */
export async function decodeIdPng(bytes) {
  const info = readChunks(bytes);
  if (!info || info.interlace !== 0) return null;
  const { width, height, bitDepth, colorType } = info;
  const channels = colorType === COLOR_TYPE_GREY || colorType === COLOR_TYPE_INDEXED ? 1
                 : colorType === COLOR_TYPE_GREY_ALPHA ? 2 : 0;
  if (!channels) return null;
  const bitsPerPixel = bitDepth * channels;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const total = info.idat.reduce((n, d) => n + d.length, 0);
  const joined = new Uint8Array(total);
  let o = 0;
  for (const d of info.idat) { joined.set(d, o); o += d.length; }
  const rows = unfilter(await zlibInflate(joined), height, stride, Math.max(1, bitsPerPixel >> 3));
  const values = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    for (let x = 0; x < width; x++) {
      let v;
      if (bitDepth === 16) v = (rows[row + x * 2 * channels] << 8) | rows[row + x * 2 * channels + 1];
      else if (bitDepth === 8) v = rows[row + x * channels];
      else {   // 1, 2 or 4 bits, packed from the high bit (only without alpha)
        const bit = x * bitDepth;
        v = (rows[row + (bit >> 3)] >> (8 - bitDepth - (bit & 7))) & ((1 << bitDepth) - 1);
      }
      values[y * width + x] = v;
    }
  }
  return { width, height, values, kind: colorType === COLOR_TYPE_INDEXED ? "indexed" : "greyscale" };
}

// ---- decoding colour images --------------------------------------------------------

/** Pixels of any image the browser can decode, without colour management. */
async function decodeRgba(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { width: canvas.width, height: canvas.height, data };
}

function rgbText([r, g, b]) { return `rgb(${r}, ${g}, ${b})`; }

/** Map exact palette colours to ids; greyscale-looking RGB images are read as id maps. */
function idsFromRgba({ width, height, data }, labels, dontcare) {
  const byColor = new Map(labels.map((l) => [(l.color[0] << 16) | (l.color[1] << 8) | l.color[2], l.id]));
  const values = new Uint16Array(width * height);
  const unknown = new Map();
  let allGrey = true;
  for (let i = 0, p = 0; p < values.length; p++, i += 4) {
    const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) allGrey = false;
    const id = byColor.get(key);
    if (id === undefined) {
      unknown.set(key, (unknown.get(key) || 0) + 1);
      values[p] = 0xffff;
    } else values[p] = id;
  }
  if (unknown.size === 0) return { width, height, values, kind: "colour" };
  if (allGrey) {   // a class-id map saved as RGB: the grey level is the id
    for (let i = 0, p = 0; p < values.length; p++, i += 4) values[p] = data[i];
    const bad = badIds(values, labels.length, dontcare);
    if (!bad) return { width, height, values, kind: "greyscale" };
  }
  const count = [...unknown.values()].reduce((a, b) => a + b, 0);
  const examples = [...unknown.keys()].slice(0, MAX_EXAMPLES).map((k) => rgbText([k >> 16, (k >> 8) & 0xff, k & 0xff]));
  throw new Error(`${count.toLocaleString()} pixels have colours that are not in this model's palette `
                  + `(e.g. ${examples.join(", ")}). Use the palette's exact colours, `
                  + "or a greyscale PNG whose values are class ids.");
}

function badIds(values, numClasses, dontcare) {
  const bad = new Set();
  for (const v of values) if (v >= numClasses && v !== dontcare) { bad.add(v); if (bad.size > MAX_EXAMPLES) break; }
  return bad.size ? [...bad].sort((a, b) => a - b) : null;
}

// ---- public: file -> ids at the model's size ---------------------------------------

/** Nearest-neighbour resample of a (h, w) value map to (height, width). */
function resampleNearest(values, w, h, width, height) {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / width));
      out[y * width + x] = values[sy * w + sx];
    }
  }
  return out;
}

/**
 * Read a label-map file (PNG of class ids, indexed PNG, or an image in palette colours)
 * into a Uint8Array of ids at width x height. Throws Error with a plain-words message.
 * Returns { ids, note } where note says what was done (e.g. a resize), or "".
 */
export async function readLabelFile(file, { labels, dontcare, width, height }) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let decoded = null;
  try { decoded = await decodeIdPng(bytes); } catch { decoded = null; }
  if (!decoded) {
    let rgba;
    try { rgba = await decodeRgba(file); } catch {
      throw new Error(`${file.name || "That file"} is not an image this browser can read.`);
    }
    decoded = idsFromRgba(rgba, labels, dontcare);
  }
  const bad = badIds(decoded.values, labels.length, dontcare);
  if (bad) {
    throw new Error(`The label map uses class ids this model does not have (${bad.slice(0, MAX_EXAMPLES).join(", ")}`
                    + `${bad.length > MAX_EXAMPLES ? ", …" : ""}); it knows ids 0–${labels.length - 1}.`);
  }
  const notes = [];
  if (/jpe?g/i.test(file.type)) notes.push("JPEG files can shift colours; PNG is safer for label maps");
  let ids;
  if (decoded.width !== width || decoded.height !== height) {
    ids = resampleNearest(decoded.values, decoded.width, decoded.height, width, height);
    notes.push(`resized from ${decoded.width}×${decoded.height} to ${width}×${height}`);
  } else ids = Uint8Array.from(decoded.values);
  return { ids, note: notes.join("; ") };
}
