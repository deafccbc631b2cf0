// ============================================================================
// palette.js: the class picker, grouped as the model's labels.json groups them
// ============================================================================

export const GROUP_ORDER = ["sky", "terrain", "plants", "water"];   // others follow, in label order
const GROUP_TITLES = { sky: "Sky", terrain: "Terrain", plants: "Plants", water: "Water", other: "Other" };

export function cssColor([r, g, b]) { return `rgb(${r} ${g} ${b})`; }

function title(group) { return GROUP_TITLES[group] || group.charAt(0).toUpperCase() + group.slice(1); }

/** Labels grouped: [[group, [label, ...]], ...] in GROUP_ORDER, then first appearance. */
export function groupLabels(labels) {
  const groups = new Map(GROUP_ORDER.map((g) => [g, []]));
  for (const l of labels) {
    const g = l.group || "other";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(l);
  }
  return [...groups].filter(([, items]) => items.length);
}

export class Palette {
  /**
   * @param root      element to fill with the grouped swatch buttons
   * @param labels    [{id, name, color, group}]
   * @param onSelect  called with the id when a person picks a class
   */
  constructor(root, labels, onSelect) {
    this.root = root;
    this.labels = labels;
    this.byId = new Map(labels.map((l) => [l.id, l]));
    this.onSelect = onSelect;
    this.buttons = new Map();
    this.current = labels.length ? labels[0].id : 0;
    this._build();
  }

  _build() {
    this.root.replaceChildren();
    for (const [group, items] of groupLabels(this.labels)) {
      const section = document.createElement("div");
      section.className = "sp-palette__group";
      section.setAttribute("role", "group");
      const heading = document.createElement("h3");
      heading.className = "sp-palette__heading";
      heading.id = `sp-palette-${group}`;
      heading.textContent = title(group);
      section.setAttribute("aria-labelledby", heading.id);
      const list = document.createElement("div");
      list.className = "sp-palette__list";
      for (const label of items) list.append(this._button(label));
      section.append(heading, list);
      this.root.append(section);
    }
  }

  _button(label) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sp-swatch";
    button.dataset.classId = label.id;
    button.dataset.className = label.name;
    button.setAttribute("aria-pressed", String(label.id === this.current));
    button.title = `${label.name} (class ${label.id})`;
    const chip = document.createElement("span");
    chip.className = "sp-swatch__chip";
    chip.style.background = cssColor(label.color);
    chip.setAttribute("aria-hidden", "true");
    const name = document.createElement("span");
    name.className = "sp-swatch__name";
    name.textContent = label.name;
    button.append(chip, name);
    button.addEventListener("click", () => this.onSelect(label.id));
    this.buttons.set(label.id, button);
    return button;
  }

  /** Highlight a class (does not call onSelect). */
  select(id) {
    if (!this.byId.has(id)) return false;
    this.current = id;
    for (const [bid, button] of this.buttons) button.setAttribute("aria-pressed", String(bid === id));
    return true;
  }

  label(id) { return this.byId.get(id); }

  /** Fill a <select> with the classes, grouped, e.g. for the eraser's background class. */
  fillSelect(select, selectedId) {
    select.replaceChildren();
    for (const [group, items] of groupLabels(this.labels)) {
      const optgroup = document.createElement("optgroup");
      optgroup.label = title(group);
      for (const l of items) optgroup.append(new Option(l.name, String(l.id), false, l.id === selectedId));
      select.append(optgroup);
    }
  }
}
