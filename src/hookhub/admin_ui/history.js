// The delivery history of an outgoing integration (integrations.history, clearHistory,
// replayOutgoing): attempts newest first with their details, replay, clear with confirmation,
// paging and a live refresh every 2 seconds. Hand-written, no build step, CSP-safe.
"use strict";
(function () {
  const Hookhub = (window.Hookhub = window.Hookhub || {});
  const PAGE_SIZE = 25;
  const REFRESH_MS = 2000;

  const el = Hookhub.dom.el;

  const pretty = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso || "") : date.toLocaleString();
  }

  // httpResult is stored JSON-encoded (a quoted string, or the text "null" for no response).
  function responseBody(record) {
    if (typeof record.httpResult !== "string") return null;
    let text;
    try {
      text = JSON.parse(record.httpResult);
    } catch (_error) {
      text = record.httpResult;
    }
    if (text === null || text === undefined) return null;
    if (typeof text !== "string") return pretty(text);
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (_error) {
      return text;
    }
  }

  const ANSWERED = new Set([
    "after-http-call",
    "url-response-sent-message",
    "after-http-call-send-message-failed",
    "after-process-send-message",
    "after-process-send-message-failed",
    "after-process-false-result",
  ]);

  // The HTTP status is not a field of Rocket.Chat's history record: a hookhub extension field
  // when present, else what the step says.
  function httpStatus(record) {
    for (const name of ["httpStatus", "statusCode", "status"]) {
      if (Number.isInteger(record[name])) return String(record[name]);
    }
    const special = /^after-process-http-status-(\d{3})$/.exec(record.step || "");
    if (special) return special[1];
    if (record.httpError) return "no response";
    if (!record.error && responseBody(record) !== null && ANSWERED.has(record.step)) return "2xx (success)";
    if (/^going-to-retry-|^too-many-retries$|^failed-and-/.test(record.step || "") && responseBody(record) !== null) {
      return "not a success";
    }
    return "—";
  }

  function outcome(record) {
    if (record.error) return { word: "error", label: "Error" };
    if (record.finished) return { word: "finished", label: "Finished" };
    if (record.httpResult !== undefined && responseBody(record) !== null) return { word: "delivered", label: "Delivered" };
    return { word: "pending", label: "In progress" };
  }

  function duration(record) {
    if (record.step === "start-execute-trigger-url") return null;
    const start = Date.parse(record._createdAt);
    const end = Date.parse(record._updatedAt);
    if (Number.isNaN(start) || Number.isNaN(end) || end < start) return null;
    const ms = end - start;
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
  }

  // The record keeps its last step only; the ones before it follow from the fields written.
  function steps(record) {
    const passed = ["start-execute-trigger-url"];
    if (record.data) passed.push("mapped-args-to-data");
    if (record.ranPrepareScript) passed.push("after-maybe-ran-prepare");
    if (record.url) passed.push("pre-http-call");
    if (record.httpResult !== undefined || record.httpError) passed.push("after-http-call");
    if (record.step && !passed.includes(record.step)) passed.push(record.step);
    return passed;
  }

  // a short signature: a record is rebuilt only when it changed
  const signature = (record) => `${record._updatedAt}|${record.step}|${record.error}|${record.finished}`;

  function render(container, integrationId) {
    const ids = { n: (render.count = (render.count || 0) + 1) };
    const prefix = `hh-history-${ids.n}`;

    const live = el("input", { type: "checkbox", id: `${prefix}-live`, checked: true });
    const clear = el("button", { type: "button", class: "hh-button hh-button-danger", text: "Clear history" });
    const alert = el("p", { class: "hh-history-error", role: "alert" });
    const notice = el("p", { class: "hh-history-notice", role: "status" });
    const summary = el("p", { class: "hh-history-summary" });
    const list = el("ol", { class: "hh-history-list", "aria-label": "Delivery attempts" });
    const empty = el("p", { class: "hh-muted", text: "Loading the history…" });
    const previous = el("button", { type: "button", class: "hh-button", text: "Previous", disabled: true });
    const next = el("button", { type: "button", class: "hh-button", text: "Next", disabled: true });

    const dialogHeading = `${prefix}-dialog-heading`;
    const confirmClear = el("button", { type: "button", class: "hh-button hh-button-danger", text: "Clear" });
    const cancelClear = el("button", { type: "button", class: "hh-button", text: "Cancel" });
    const dialog = el("dialog", { class: "hh-dialog", "aria-labelledby": dialogHeading }, [
      el("h2", { id: dialogHeading, text: "Clear history?" }),
      el("p", { text: "Every recorded delivery attempt of this integration will be deleted. This cannot be undone." }),
      el("div", { class: "hh-actions" }, [confirmClear, cancelClear]),
    ]);

    const root = el("section", { class: "hh-history", "aria-labelledby": `${prefix}-heading` }, [
      el("h2", { id: `${prefix}-heading`, text: "History" }),
      el("div", { class: "hh-history-toolbar" }, [
        el("label", { class: "hh-checkbox", for: live.id }, [live, " Live refresh"]),
        clear,
      ]),
      alert,
      notice,
      summary,
      empty,
      list,
      el("nav", { class: "hh-pager", "aria-label": "History pages" }, [previous, next]),
      dialog,
    ]);
    container.append(root);

    let offset = 0;
    let total = 0;
    let stopped = false;
    let loading = false;
    let again = false; // a load was asked for while one ran
    let timer = null;
    const open = new Set(); // ids of attempts whose details are open
    const items = new Map(); // id -> {node, signature}

    function detailsPanel(record, panelId) {
      const parts = [];
      const request = record.httpCallData !== undefined ? record.httpCallData : record.data;
      parts.push(el("h4", { text: "Request" }));
      parts.push(
        el("dl", { class: "hh-facts" }, [
          el("dt", { text: "URL" }),
          el("dd", { class: "hh-break", text: record.url || "(not sent)" }),
        ]),
      );
      if (request !== undefined) {
        parts.push(el("p", { class: "hh-label", text: record.httpCallData !== undefined ? "Body" : "Event data" }));
        parts.push(el("pre", { class: "hh-code", text: pretty(request) }));
      }
      parts.push(el("h4", { text: "Response" }));
      const body = responseBody(record);
      parts.push(
        el("dl", { class: "hh-facts" }, [el("dt", { text: "Status" }), el("dd", { text: httpStatus(record) })]),
      );
      if (body !== null) {
        parts.push(el("p", { class: "hh-label", text: "Body" }));
        parts.push(el("pre", { class: "hh-code", text: body }));
      } else {
        parts.push(el("p", { class: "hh-muted", text: "No response recorded." }));
      }
      if (record.httpError || record.errorStack) {
        parts.push(el("h4", { text: "Error" }));
        if (record.httpError) parts.push(el("pre", { class: "hh-code hh-code-error", text: pretty(record.httpError) }));
        if (record.errorStack) parts.push(el("pre", { class: "hh-code hh-code-error", text: pretty(record.errorStack) }));
      }
      for (const [field, title] of [
        ["prepareSentMessage", "Messages posted by prepare_outgoing_request"],
        ["processSentMessage", "Messages posted by process_outgoing_response"],
        ["resultMessage", "Reply posted from the response"],
      ]) {
        if (record[field]) {
          parts.push(el("h4", { text: title }));
          parts.push(el("pre", { class: "hh-code", text: pretty(record[field]) }));
        }
      }
      parts.push(el("h4", { text: "Steps" }));
      parts.push(el("ol", { class: "hh-steps" }, steps(record).map((step) => el("li", { text: step }))));
      parts.push(el("p", { class: "hh-hint", text: "The server stores the last step; earlier ones follow from the record." }));
      const replay = el("button", { type: "button", class: "hh-button", text: "Replay", "data-action": "replay" });
      replay.addEventListener("click", () => replayAttempt(record, replay));
      parts.push(el("div", { class: "hh-actions" }, [replay]));
      return el("div", { id: panelId, class: "hh-attempt-details", hidden: !open.has(record._id) }, parts);
    }

    function attemptNode(record) {
      const panelId = `${prefix}-attempt-${record._id}`;
      const result = outcome(record);
      const toggle = el("button", {
        type: "button",
        class: "hh-button hh-toggle",
        text: "Details",
        "aria-expanded": open.has(record._id) ? "true" : "false",
        "aria-controls": panelId,
        "data-action": "details",
      });
      const panel = detailsPanel(record, panelId);
      toggle.addEventListener("click", () => {
        const opening = !open.has(record._id);
        if (opening) open.add(record._id);
        else open.delete(record._id);
        toggle.setAttribute("aria-expanded", opening ? "true" : "false");
        panel.hidden = !opening;
      });
      const time = el("time", { datetime: record._createdAt, text: formatTime(record._createdAt) });
      const took = duration(record);
      const facts = el("dl", { class: "hh-attempt-facts" }, [
        el("div", {}, [el("dt", { text: "Time" }), el("dd", {}, [time])]),
        el("div", {}, [el("dt", { text: "Event" }), el("dd", { text: record.event || "—" })]),
        el("div", {}, [el("dt", { text: "Step" }), el("dd", { class: "hh-break", text: record.step || "—" })]),
        el("div", {}, [
          el("dt", { text: "Outcome" }),
          el("dd", {}, [el("span", { class: `hh-badge hh-badge-${result.word}`, text: result.label })]),
        ]),
        el("div", {}, [el("dt", { text: "HTTP status" }), el("dd", { text: httpStatus(record) })]),
        took ? el("div", {}, [el("dt", { text: "Duration" }), el("dd", { text: took })]) : null,
      ]);
      return el(
        "li",
        { class: `hh-attempt hh-attempt-${result.word}`, "data-history-id": record._id },
        [facts, el("div", { class: "hh-actions" }, [toggle]), panel],
      );
    }

    function show(history) {
      // remember the focused control to give it back if its attempt is rebuilt or moved
      const active = document.activeElement;
      const focusedItem = active && list.contains(active) ? active.closest("[data-history-id]") : null;
      const focus = focusedItem
        ? { id: focusedItem.getAttribute("data-history-id"), action: active.getAttribute("data-action") }
        : null;

      const seen = new Set();
      const nodes = history.map((record) => {
        seen.add(record._id);
        const known = items.get(record._id);
        const sig = signature(record);
        if (known && known.signature === sig) return known.node;
        const node = attemptNode(record);
        if (known) known.node.replaceWith(node);
        items.set(record._id, { node, signature: sig });
        return node;
      });
      for (const id of Array.from(items.keys())) if (!seen.has(id)) items.delete(id);
      const same =
        nodes.length === list.children.length && nodes.every((node, index) => list.children[index] === node);
      if (!same) list.replaceChildren(...nodes);
      if (focus && !list.contains(active)) {
        const item = items.get(focus.id);
        const target = item && focus.action ? item.node.querySelector(`[data-action="${focus.action}"]`) : null;
        if (target) target.focus();
      }

      empty.textContent = history.length ? "" : offset > 0 ? "No attempts on this page." : "No deliveries recorded yet.";
      empty.hidden = history.length > 0;
      summary.textContent = history.length
        ? `Attempts ${offset + 1}–${offset + history.length} of ${total}, newest first.`
        : "";
      previous.disabled = offset === 0;
      next.disabled = offset + history.length >= total;
    }

    function schedule() {
      clearTimeout(timer);
      timer = null;
      if (stopped) return;
      if (!root.isConnected) {
        handle.stop(); // the page went away without calling stop()
        return;
      }
      if (live.checked) timer = setTimeout(load, REFRESH_MS);
    }

    async function load() {
      if (stopped) return;
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      clearTimeout(timer);
      timer = null;
      try {
        const data = await Hookhub.api.get("integrations.history", { id: integrationId, count: PAGE_SIZE, offset });
        if (stopped) return;
        total = Number.isInteger(data.total) ? data.total : (data.history || []).length;
        const history = Array.isArray(data.history) ? data.history : [];
        if (!history.length && offset > 0 && total > 0) {
          // the page emptied (history cleared or expired): go back to the last page that has items
          offset = Math.max(0, Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE);
          again = true;
        }
        show(history);
        alert.textContent = "";
      } catch (error) {
        if (stopped) return;
        alert.textContent = `The history could not be loaded. ${error && error.message ? error.message : error}`;
        if (error && (error.status === 401 || error.status === 403)) live.checked = false;
      } finally {
        loading = false;
        if (again && !stopped) {
          again = false;
          load();
        } else {
          schedule();
        }
      }
    }

    async function replayAttempt(record, button) {
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      notice.textContent = "";
      alert.textContent = "";
      try {
        await Hookhub.api.post("integrations.replayOutgoing", { integrationId, historyId: record._id });
        notice.textContent = `Replay queued: the ${record.event || ""} event will be sent again${
          record.url ? ` to ${record.url}` : ""
        }. It appears as a new attempt.`;
        load();
      } catch (error) {
        alert.textContent = `The attempt could not be replayed. ${error && error.message ? error.message : error}`;
      } finally {
        button.removeAttribute("aria-busy");
      }
    }

    clear.addEventListener("click", () => {
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
      cancelClear.focus();
    });
    cancelClear.addEventListener("click", () => dialog.close());
    confirmClear.addEventListener("click", async () => {
      dialog.close();
      notice.textContent = "";
      alert.textContent = "";
      try {
        await Hookhub.api.post("integrations.clearHistory", { integrationId });
        open.clear();
        offset = 0;
        notice.textContent = "History cleared.";
        load();
      } catch (error) {
        alert.textContent = `The history could not be cleared. ${error && error.message ? error.message : error}`;
      }
      clear.focus();
    });
    dialog.addEventListener("close", () => {
      if (!root.contains(document.activeElement) || document.activeElement === document.body) clear.focus();
    });

    previous.addEventListener("click", () => {
      offset = Math.max(0, offset - PAGE_SIZE);
      load();
    });
    next.addEventListener("click", () => {
      offset += PAGE_SIZE;
      load();
    });
    live.addEventListener("change", () => {
      if (live.checked) load();
      else {
        clearTimeout(timer);
        timer = null;
      }
    });

    const handle = {
      stop() {
        stopped = true;
        clearTimeout(timer);
        timer = null;
        if (dialog.open) dialog.close();
      },
    };
    load();
    return handle;
  }

  Hookhub.history = { render };
})();
