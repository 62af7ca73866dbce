// Uploads: files sent in batches of at most the server's limit, one XHR at a time (fetch cannot
// report upload progress), per-file progress from the batch's byte offsets, 429 + Retry-After
// honoured by waiting and sending the same batch again, cancel of one file or all.
import { api, collectionPath } from "./api.js";
import { askForKey, authHeaders } from "./auth.js";

/** Files (with their folder paths) from a drop, folders walked recursively. */
export async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (entries.some((e) => e === null)) return [...dataTransfer.files].map((file) => ({ file, path: file.name }));
  const out = [];
  async function walk(entry) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: entry.fullPath.replace(/^\//, "") });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) await walk(entry);
  return out;
}

export class UploadQueue {
  /** onChange() is called whenever an item's state or progress changes. */
  constructor({ collection, maxFiles = 100, maxBatchBytes = 256 * 2 ** 20, onChange, onSent }) {
    this.collection = collection;
    this.maxFiles = maxFiles;
    this.maxBatchBytes = maxBatchBytes;
    this.onChange = onChange;
    this.onSent = onSent || (() => {});
    this.items = [];
    this.jobs = new Set();
    this.xhr = null;
    this.running = false;
    this.waitTimer = null;
    this.wake = null;
    this.retryAt = null;
  }

  add(entries) {
    for (const { file, path } of entries) {
      this.items.push({ file, path, state: "waiting", loaded: 0, message: null, documentId: null, jobId: null });
    }
    this.onChange();
    this.run();
  }

  nextBatch() {
    const batch = [];
    let bytes = 0;
    for (const item of this.items) {
      if (item.state !== "waiting") continue;
      if (batch.length && (batch.length >= this.maxFiles || bytes + item.file.size > this.maxBatchBytes)) break;
      batch.push(item);
      bytes += item.file.size;
    }
    return batch;
  }

  async run() {
    if (this.running) return;
    this.running = true;
    try {
      for (let batch = this.nextBatch(); batch.length; batch = this.nextBatch()) {
        await this.send(batch);
      }
    } finally {
      this.running = false;
    }
  }

  send(batch) {
    return new Promise((resolve) => {
      const form = new FormData();
      for (const item of batch) form.append("files", item.file, item.path);
      // Each part's place in the body, to turn the batch's progress into each file's.
      let offset = 0;
      const spans = batch.map((item) => {
        const span = [offset, item.file.size];
        offset += item.file.size;
        return span;
      });
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open("POST", collectionPath(this.collection, "/documents"));
      for (const [k, v] of Object.entries(authHeaders("POST"))) xhr.setRequestHeader(k, v);
      for (const item of batch) item.state = "uploading";
      xhr.upload.onprogress = (ev) => {
        if (!ev.lengthComputable) return;
        // The multipart framing adds bytes; scale so the last file reaches 100% at the end.
        const sent = (ev.loaded / ev.total) * offset;
        batch.forEach((item, i) => {
          const [start, size] = spans[i];
          item.loaded = Math.max(0, Math.min(size, sent - start));
        });
        this.onChange();
      };
      const finish = () => {
        this.xhr = null;
        this.onChange();
        resolve();
      };
      xhr.onload = async () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status === 202 && body) {
          this.jobs.add(body.id);
          batch.forEach((item, i) => {
            item.state = "sent";
            item.loaded = item.file.size;
            item.jobId = body.id;
            const match = body.items[i] && batch.length === body.items.length ? body.items[i] : null;
            item.documentId = match ? match.document_id : null;
          });
          this.onSent(body);
          finish();
        } else if (xhr.status === 429) {
          const wait = Math.max(1, Number(xhr.getResponseHeader("Retry-After")) || 2);
          for (const item of batch) {
            item.state = "waiting";
            item.loaded = 0;
          }
          this.retryAt = Date.now() + wait * 1000;
          this.onChange();
          this.wake = () => {
            clearTimeout(this.waitTimer);
            this.wake = null;
            this.retryAt = null;
            finish();
          };
          this.waitTimer = setTimeout(this.wake, wait * 1000);
        } else if (xhr.status === 413 && batch.length > 1) {
          // Too many files (or bytes) for one request: send halves.
          this.maxFiles = Math.ceil(batch.length / 2);
          for (const item of batch) {
            item.state = "waiting";
            item.loaded = 0;
          }
          finish();
        } else if (xhr.status === 401 && (await askForKey())) {
          for (const item of batch) item.state = "waiting";
          finish();
        } else {
          const message = body && body.error ? body.error.message : `HTTP ${xhr.status}`;
          for (const item of batch) {
            item.state = "refused";
            item.message = message;
          }
          finish();
        }
      };
      xhr.onerror = () => {
        for (const item of batch) {
          if (item.state === "uploading") {
            item.state = "refused";
            item.message = "network error";
          }
        }
        finish();
      };
      xhr.onabort = finish;
      xhr.send(form);
    });
  }

  /** Cancel one file: not sent yet, it is dropped; sent, its document's indexing is cancelled. */
  async cancel(item) {
    if (item.state === "waiting") {
      item.state = "cancelled";
    } else if (item.state === "uploading" && this.xhr) {
      // One request carries the whole batch: abort it and send the others again.
      const inBatch = this.items.filter((i) => i.state === "uploading");
      this.xhr.abort();
      for (const other of inBatch) {
        other.state = other === item ? "cancelled" : "waiting";
        other.loaded = 0;
      }
      this.run();
    } else if (item.state === "sent" && item.documentId) {
      await api("POST", collectionPath(this.collection, `/documents/${item.documentId}/cancel`));
      item.state = "cancelled";
    }
    this.onChange();
  }

  /** Cancel everything: nothing more is sent, and every job sent from here is cancelled. */
  async cancelAll() {
    for (const item of this.items) {
      if (item.state === "waiting" || item.state === "uploading") item.state = "cancelled";
    }
    if (this.xhr) this.xhr.abort();
    if (this.wake) this.wake();
    const jobs = [...this.jobs];
    this.jobs.clear();
    await Promise.all(jobs.map((id) => api("POST", `/api/jobs/${id}/cancel`).catch(() => null)));
    for (const item of this.items) if (item.state === "sent") item.state = "cancelled";
    this.onChange();
  }

  clearFinished() {
    this.items = this.items.filter((i) => i.state === "waiting" || i.state === "uploading");
    this.onChange();
  }

  stop() {
    if (this.xhr) this.xhr.abort();
    clearTimeout(this.waitTimer);
  }
}
