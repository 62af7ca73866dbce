// What the pages share: the collections and the one the user is working in.
import { api } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

const STORE = "ragserve.collection";
let collections = null;

export async function loadCollections(force = false) {
  if (force || collections === null) collections = await api("GET", "/api/collections");
  return collections;
}

export function currentCollection() {
  const chosen = localStorage.getItem(STORE);
  const names = (collections || []).map((c) => c.name);
  if (chosen && names.includes(chosen)) return chosen;
  return names[0] || null;
}

export function setCollection(name) {
  localStorage.setItem(STORE, name);
  window.dispatchEvent(new CustomEvent("collectionchange"));
}

/** A labelled <select> of the collections; onChange(name) after the choice is stored. */
export function collectionPicker(onChange) {
  const id = "collection-picker";
  const current = currentCollection();
  const select = h(
    "select",
    {
      id,
      onchange: () => {
        setCollection(select.value);
        if (onChange) onChange(select.value);
      },
    },
    (collections || []).map((c) => h("option", { value: c.name, selected: c.name === current }, c.name)),
  );
  return h("div", { class: "field inline" }, h("label", { for: id }, t("common.collection")), select);
}
