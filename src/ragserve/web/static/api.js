// Requests to the ragserve API: JSON in and out, errors as ApiError with the server's message,
// a 401 answered by the sign-in screen and a retry, and SSE read from fetch (so the
// Authorization or X-CSRF-Token header goes along, which EventSource cannot send).
import { askForKey, authHeaders } from "./auth.js";
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body, headers) {
    const detail = body && body.error ? body.error : null;
    super(detail && detail.message ? detail.message : status ? `HTTP ${status}` : t("error.network"));
    this.status = status;
    this.code = detail ? detail.code : null;
    this.param = detail ? detail.param : null;
    this.retryAfter = headers ? Number(headers.get("Retry-After")) || null : null;
  }
}

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== "") u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

async function send(method, path, { json, query, signal, headers } = {}) {
  for (;;) {
    const init = { method, signal, headers: { ...authHeaders(method), ...(headers || {}) } };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url(path, query), init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, null, null);
    }
    if (response.status === 401 && (await askForKey())) continue;
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      throw new ApiError(response.status, body, response.headers);
    }
    return response;
  }
}

/** JSON body of a request (null for 204). */
export async function api(method, path, options) {
  const response = await send(method, path, options);
  if (response.status === 204) return null;
  return response.json();
}

/** JSON body and the response headers (for X-Total-Count). */
export async function apiWithHeaders(method, path, options) {
  const response = await send(method, path, options);
  return { body: response.status === 204 ? null : await response.json(), headers: response.headers };
}

/**
 * Server-Sent Events over fetch: calls onEvent(name, data) per event, data parsed as JSON when
 * it is JSON. Resolves when the stream ends; rejects with ApiError before it starts.
 */
export async function stream(method, path, { json, signal, onEvent, onOpen }) {
  const response = await send(method, path, { json, signal, headers: { Accept: "text/event-stream" } });
  if (onOpen) onOpen(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (data.length) {
          const raw = data.join("\n");
          let parsed = raw;
          try {
            parsed = JSON.parse(raw);
          } catch {
            parsed = raw;
          }
          onEvent(name, parsed);
        }
        name = "message";
        data = [];
      } else if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}

/** The path of a collection's route, with the name escaped. */
export function collectionPath(name, rest = "") {
  return `/api/collections/${encodeURIComponent(name)}${rest}`;
}
