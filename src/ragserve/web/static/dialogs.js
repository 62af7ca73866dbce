// Modal confirm and prompt built on <dialog> (keyboard and focus handled by the browser);
// window.confirm/prompt are avoided so the page looks and reads the same in both languages.
import { h } from "./dom.js";
import { t } from "./i18n.js";

function modal(title, body, okLabel, danger, value) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "modal", "aria-label": title },
      h(
        "form",
        { method: "dialog" },
        h("p", { class: "dialog-title" }, title),
        body,
        h(
          "div",
          { class: "row end" },
          h("button", { type: "button", onclick: () => dialog.close("cancel") }, t("common.cancel")),
          h("button", { class: danger ? "danger" : "primary", value: "ok" }, okLabel),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? value() : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** true when confirmed; with `typeName`, the user must type that name first. */
export async function confirmDialog(question, { typeName, okLabel, danger = true } = {}) {
  let body = null;
  if (typeName) {
    const input = h("input", { id: "confirm-name", autocomplete: "off", required: true, pattern: typeName.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&") });
    body = h("div", { class: "field" }, h("label", { for: "confirm-name" }, t("coll.typeName")), input);
  }
  const result = await modal(question, body, okLabel || t("common.delete"), danger, () => true);
  return result === true;
}

/** The text entered, or null when cancelled. */
export function promptDialog(label, initial = "") {
  const input = h("input", { id: "prompt-value", value: initial, autocomplete: "off" });
  const body = h("div", { class: "field" }, h("label", { for: "prompt-value" }, label), input);
  const result = modal(label, body, t("common.save"), false, () => input.value.trim());
  input.select();
  return result;
}
