// Status: ingestion queue (fraction, rates), backends up or down, readiness, the doctor's report.
import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { diagnosis } from "./resources.js";

export async function mount(main) {
  const queue = h("section", { class: "card", "aria-labelledby": "st-queue" });
  const backends = h("section", { class: "card", "aria-labelledby": "st-backends" });
  const ready = h("section", { class: "card", "aria-labelledby": "st-ready" });
  const doctor = h("section", { class: "card", "aria-labelledby": "st-doctor" });

  async function loadQueue() {
    try {
      const s = await api("GET", "/api/ingest/status");
      replace(
        queue,
        h("h2", { id: "st-queue" }, t("st.queue")),
        h("progress", { max: 1, value: s.queue_fraction, "aria-label": t("st.queue") }),
        h("p", {}, t("st.inFlight", { n: s.in_flight, capacity: s.capacity, queued: s.queued, indexing: s.indexing })),
        h("p", {}, t("st.rates", { docs: s.docs_per_s.toFixed(2), chunks: s.chunks_per_s.toFixed(1) })),
        h("p", {}, `${t("st.accepting")}: ${t(s.accepting ? "common.yes" : "common.no")}`),
      );
    } catch (err) {
      replace(queue, h("h2", { id: "st-queue" }, t("st.queue")), h("p", { class: "error" }, err.message));
    }
  }

  async function loadBackends() {
    try {
      const list = await api("GET", "/api/resources/backends");
      replace(
        backends,
        h("h2", { id: "st-backends" }, t("st.backends")),
        h("ul", { class: "plain" }, list.map((b) => h("li", {}, h("span", { class: `state state-${b.state || "none"}` }, b.state ? t(`res.state.${b.state}`) : "–"), " ", b.name, b.model ? ` (${b.model})` : ""))),
      );
    } catch (err) {
      replace(backends, h("h2", { id: "st-backends" }, t("st.backends")), h("p", { class: "error" }, err.message));
    }
  }

  async function loadReady() {
    let body;
    try {
      const response = await fetch("/readyz");
      body = await response.json();
    } catch (err) {
      body = { status: "not ready", checks: { server: err.message } };
    }
    replace(
      ready,
      h("h2", { id: "st-ready" }, t("st.ready")),
      h("p", {}, h("span", { class: `state ${body.status === "ready" ? "state-closed" : "state-open"}` }, body.status)),
      h("dl", { class: "facts" }, Object.entries(body.checks || {}).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    );
  }

  async function loadDoctor() {
    replace(doctor, h("h2", { id: "st-doctor" }, t("st.doctor")), h("p", { class: "muted" }, t("common.loading")));
    try {
      const report = await api("GET", "/api/doctor");
      replace(
        doctor,
        h("h2", { id: "st-doctor" }, t("st.doctor")),
        h("p", {}, h("span", { class: `state ${report.ok ? "state-closed" : "state-open"}` }, t(report.ok ? "st.ok" : "st.problem"))),
        diagnosis(report),
        h("button", { type: "button", class: "small", onclick: loadDoctor }, t("st.runDoctor")),
      );
    } catch (err) {
      replace(doctor, h("h2", { id: "st-doctor" }, t("st.doctor")), h("p", { class: "error" }, err.message));
    }
  }

  replace(main, h("h1", {}, t("st.title")), h("div", { class: "grid" }, queue, backends, ready), doctor);
  await Promise.all([loadQueue(), loadBackends(), loadReady()]);
  loadDoctor();
  const timer = setInterval(() => {
    loadQueue();
    loadBackends();
  }, 3000);
  return () => clearInterval(timer);
}
