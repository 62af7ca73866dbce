// The shell: header (navigation, who is signed in, language switch) and a hash router that
// mounts one page at a time. Pages are modules with mount(main) returning an optional cleanup.
import { hasAccount, isAdmin, whoAmI } from "./account.js";
import { authConfig, signOut, usingKey } from "./auth.js";
import { h, replace } from "./dom.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";

const PAGES = {
  chat: () => import("./pages/chat.js"),
  documents: () => import("./pages/documents.js"),
  collections: () => import("./pages/collections.js"),
  resources: () => import("./pages/resources.js"),
  retrieval: () => import("./pages/retrieval.js"),
  status: () => import("./pages/status.js"),
  keys: () => import("./pages/keys.js"),
};
// Who may see each page's link (every page checks again at the server).
const VISIBLE = {
  resources: isAdmin,
  keys: hasAccount,
};

const main = document.getElementById("main");
const header = document.getElementById("top");
let cleanup = null;
let who = null;
let signIn = null;

function route() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return PAGES[name] ? name : "chat";
}

function account() {
  if (!who || who.via === "open") {
    // Nobody needs to sign in yet (an open server), but single sign-on makes the first user.
    if (!signIn || !signIn.oidc) return null;
    const back = encodeURIComponent(location.pathname + location.hash);
    return h("div", { class: "account" }, h("a", { class: "button small", id: "sign-in", href: `${signIn.login_url}?return_to=${back}` }, t("auth.signIn")));
  }
  return h(
    "div",
    { class: "account" },
    h(
      "span",
      { class: "who", id: "who-am-i" },
      h("span", { class: "sr-only" }, `${t("account.signedInAs")} `),
      who.name,
      who.admin ? h("span", { class: "badge admin-badge" }, t("account.admin")) : null,
    ),
    h("button", { type: "button", class: "small", id: "sign-out", onclick: signOut }, t(usingKey() ? "account.forgetKey" : "account.signOut")),
  );
}

function renderHeader() {
  const active = route();
  const visible = Object.keys(PAGES).filter((name) => !VISIBLE[name] || VISIBLE[name](who));
  const select = h(
    "select",
    { id: "lang", onchange: () => setLang(select.value) },
    Object.entries(LANGUAGES).map(([code, label]) => h("option", { value: code, selected: code === lang() }, label)),
  );
  replace(
    header,
    h("a", { class: "brand", href: "#/chat" }, "ragserve"),
    h(
      "nav",
      { "aria-label": t("nav.label") },
      h(
        "ul",
        {},
        visible.map((name) =>
          h(
            "li",
            {},
            h(
              "a",
              { href: `#/${name}`, "aria-current": name === active ? "page" : null },
              t(`nav.${name}`),
            ),
          ),
        ),
      ),
    ),
    account(),
    h("div", { class: "field inline lang" }, h("label", { for: "lang", class: "sr-only" }, t("lang.label")), select),
  );
}

async function show() {
  try {
    [who, signIn] = await Promise.all([whoAmI(), authConfig()]);
  } catch {
    who = null; // not signed in and the sign-in was cancelled: pages show their own errors
  }
  renderHeader();
  if (cleanup) cleanup();
  cleanup = null;
  const name = route();
  document.title = `${t(`nav.${name}`)} · ragserve`;
  replace(main, h("p", { class: "muted" }, t("common.loading")));
  const page = await PAGES[name]();
  if (route() !== name) return; // the user moved on while the module loaded
  cleanup = (await page.mount(main)) || null;
  main.dataset.page = name;
}

window.addEventListener("hashchange", () => {
  show();
  main.focus({ preventScroll: true });
});
window.addEventListener("langchange", show);
show();
