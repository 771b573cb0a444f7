// The admin pages: hash routes, each page fetched from the public REST API (see api.js).
// No inline script or style anywhere (strict CSP): elements are built with the DOM and styled by
// classes from app.css.
"use strict";
(function () {
  const Hookhub = (window.Hookhub = window.Hookhub || {});
  const api = Hookhub.api;
  const main = document.getElementById("main");
  const PAGE_SIZE = 25;
  const PERMISSIONS = [
    "manage-incoming-integrations",
    "manage-own-incoming-integrations",
    "manage-outgoing-integrations",
    "manage-own-outgoing-integrations",
  ];
  const EVENTS = [
    ["sendMessage", "Message sent"],
    ["fileUploaded", "File uploaded"],
    ["roomArchived", "Room archived"],
    ["roomCreated", "Room created"],
    ["roomJoined", "User joined room"],
    ["roomLeft", "User left room"],
    ["userCreated", "User created"],
  ];
  const RETRY_DELAYS = [
    ["powers-of-ten", "Powers of ten"],
    ["powers-of-two", "Powers of two"],
    ["increments-of-two", "Increments of two"],
  ];

  // What to undo when the page changes (timers, history viewers) and a counter that lets a late
  // answer know its page is gone.
  let cleanups = [];
  let generation = 0;
  let flash = null; // a notice for the next page (e.g. "Deleted x")
  const listState = { name: "", type: "", offset: 0 };

  // ---- small DOM helpers ------------------------------------------------------------------

  const el = Hookhub.dom.el;


  // An alert box near a form: empty and hidden until there is something to say.
  function alertBox() {
    const box = el("p", { class: "alert", role: "alert", hidden: true });
    return {
      node: box,
      show(message) {
        box.textContent = message;
        box.hidden = false;
      },
      clear() {
        box.textContent = "";
        box.hidden = true;
      },
    };
  }

  function statusBox(extraClass) {
    return el("p", { class: `status ${extraClass || ""}`.trim(), role: "status" });
  }

  function messageOf(error) {
    if (error instanceof api.ApiError) return error.message;
    return `Something went wrong in the page: ${error && error.message ? error.message : String(error)}`;
  }

  function isSessionEnd(error) {
    return error instanceof api.ApiError && error.status === 401;
  }

  function heading(text) {
    return el("h1", { tabindex: "-1", class: "page-title", text });
  }

  // Replace the page; returns a function telling whether this page is still the one shown.
  function newPage(...children) {
    cleanups.forEach((fn) => {
      try {
        fn();
      } catch (_error) {
        /* a viewer that fails to stop must not break navigation */
      }
    });
    cleanups = [];
    generation += 1;
    const mine = generation;
    main.replaceChildren(...children.filter(Boolean));
    const title = main.querySelector("h1");
    if (title) title.focus();
    return () => mine === generation;
  }

  function loading(text) {
    return el("p", { class: "loading", role: "status", text: text || "Loading…" });
  }

  function takeFlash() {
    const message = flash;
    flash = null;
    return message ? el("p", { class: "notice", role: "status", text: message }) : null;
  }

  function go(hash) {
    if (window.location.hash === hash) route();
    else window.location.hash = hash;
  }

  // ---- account header ---------------------------------------------------------------------

  function showAccount() {
    const current = api.session();
    const account = document.getElementById("account");
    const name = document.getElementById("account-name");
    if (name) name.textContent = current ? current.username || "" : "";
    if (account) account.hidden = !current;
  }

  // ---- login ------------------------------------------------------------------------------

  function loginPage() {
    const errors = alertBox();
    const user = el("input", { id: "login-user", name: "user", type: "text", autocomplete: "username", required: true });
    const pass = el("input", {
      id: "login-pass",
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const submit = el("button", { type: "submit", class: "primary", text: "Log in" });
    const form = el(
      "form",
      { class: "card narrow", novalidate: true },
      el("div", { class: "field" }, el("label", { for: "login-user", text: "Username or email" }), user),
      el("div", { class: "field" }, el("label", { for: "login-pass", text: "Password" }), pass),
      errors.node,
      el("div", { class: "actions" }, submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.clear();
      if (!user.value.trim() || !pass.value) {
        errors.show("Enter your username (or email) and your password.");
        return;
      }
      submit.disabled = true;
      submit.textContent = "Logging in…";
      try {
        await api.login(user.value.trim(), pass.value);
        go("#/integrations");
      } catch (error) {
        errors.show(messageOf(error));
        pass.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = "Log in";
      }
    });
    newPage(heading("Log in"), takeFlash(), form);
  }

  // ---- not allowed ------------------------------------------------------------------------

  function notAllowedPage() {
    const current = api.session();
    newPage(
      heading("Not allowed"),
      el(
        "p",
        {},
        `Your account${current && current.username ? ` (${current.username})` : ""} may not manage integrations. ` +
          `It needs one of the permissions ${PERMISSIONS.slice(0, -1).join(", ")} or ${PERMISSIONS.at(-1)}. ` +
          "Ask an administrator to give your account a role with one of them.",
      ),
    );
  }

  // ---- list -------------------------------------------------------------------------------

  // What the newest history entry of an outgoing integration says about its last delivery.
  // (Rocket.Chat's history keeps the response body, not the HTTP status code.)
  function deliveryOutcome(entry) {
    if (!entry) return "—";
    const step = entry.step || "";
    if (entry.httpError) {
      const said = typeof entry.httpError === "object" ? entry.httpError.message : entry.httpError;
      return `error: ${said || "the call failed"}`;
    }
    if (step === "after-process-http-status-410") return "error: HTTP 410, integration disabled";
    if (step === "after-process-http-status-500") return "error: HTTP 500";
    if (step === "too-many-retries") return "error: gave up after retries";
    if (step === "failed-and-not-configured-to-retry") return "error: the target answered with a failure";
    if (step === "failed-and-retry-delay-is-invalid") return "error: invalid retry delay";
    if (step.startsWith("going-to-retry-")) return `failed, retry ${step.slice("going-to-retry-".length)} scheduled`;
    if (entry.error) return `error: ${step}`;
    if (
      step === "after-http-call" ||
      step.startsWith("after-process-") ||
      step === "url-response-sent-message" ||
      step === "after-http-call-send-message-failed" ||
      step.includes("process_outgoing_response")
    ) {
      return "delivered";
    }
    if (step.startsWith("after-prepare-")) return "not sent (script)";
    return "in progress";
  }

  function typeName(type) {
    if (type === "webhook-incoming") return "Incoming";
    if (type === "webhook-outgoing") return "Outgoing";
    return type || "?";
  }

  function channels(doc) {
    const value = doc.channel;
    if (Array.isArray(value)) return value.join(", ");
    return value || "";
  }

  function listPage() {
    const errors = alertBox();
    const nameInput = el("input", { id: "filter-name", type: "search", value: listState.name, autocomplete: "off" });
    const typeSelect = el(
      "select",
      { id: "filter-type" },
      el("option", { value: "", text: "All" }),
      el("option", { value: "webhook-incoming", text: "Incoming" }),
      el("option", { value: "webhook-outgoing", text: "Outgoing" }),
    );
    typeSelect.value = listState.type;
    const filters = el(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter integrations" },
      el("div", { class: "field" }, el("label", { for: "filter-name", text: "Filter by name" }), nameInput),
      el("div", { class: "field" }, el("label", { for: "filter-type", text: "Type" }), typeSelect),
    );
    const tbody = el("tbody");
    const table = el(
      "table",
      { class: "list" },
      el("caption", { class: "visually-hidden", text: "Integrations" }),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ["Name", "Type", "Enabled", "Channels", "Created by", "Last delivery"].map((h) =>
            el("th", { scope: "col", text: h }),
          ),
        ),
      ),
      tbody,
    );
    const wrap = el("div", { class: "table-wrap", tabindex: "0", "aria-label": "Integrations table" }, table);
    const range = el("p", { class: "range", "aria-live": "polite" });
    const previous = el("button", { type: "button", text: "Previous", disabled: true });
    const next = el("button", { type: "button", text: "Next", disabled: true });
    const pager = el("nav", { class: "pager", "aria-label": "Pages" }, previous, range, next);
    const empty = el("p", { class: "empty", hidden: true });
    const busy = loading();

    const alive = newPage(
      heading("Integrations"),
      takeFlash(),
      el(
        "div",
        { class: "actions" },
        el("a", { class: "button", href: "#/integrations/new/incoming", text: "New incoming webhook" }),
        el("a", { class: "button", href: "#/integrations/new/outgoing", text: "New outgoing webhook" }),
      ),
      filters,
      errors.node,
      busy,
      wrap,
      empty,
      pager,
    );

    let request = 0;
    async function load() {
      const mine = ++request;
      errors.clear();
      busy.hidden = false;
      let data;
      try {
        data = await api.get("integrations.list", {
          count: PAGE_SIZE,
          offset: listState.offset,
          name: listState.name,
          type: listState.type,
        });
      } catch (error) {
        if (!alive() || mine !== request) return;
        busy.hidden = true;
        if (isSessionEnd(error)) return;
        if (error instanceof api.ApiError && error.status === 403) {
          notAllowedPage();
          return;
        }
        errors.show(messageOf(error));
        return;
      }
      if (!alive() || mine !== request) return;
      busy.hidden = true;
      const rows = data.integrations || [];
      const total = data.total || 0;
      if (rows.length === 0 && total > 0 && listState.offset > 0) {
        // the page emptied (deletions): show the last one that has rows
        listState.offset = Math.max(0, Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE);
        load();
        return;
      }
      tbody.replaceChildren(...rows.map(row));
      const first = rows.length ? listState.offset + 1 : 0;
      const last = listState.offset + rows.length;
      range.textContent = rows.length ? `Showing ${first}–${last} of ${total}` : `Showing 0 of ${total}`;
      previous.disabled = listState.offset <= 0;
      next.disabled = last >= total;
      empty.hidden = rows.length > 0;
      empty.textContent =
        listState.name || listState.type ? "No integration matches these filters." : "There are no integrations yet.";
    }

    function row(doc) {
      const delivery = el("td", { text: doc.type === "webhook-outgoing" ? "…" : "—" });
      if (doc.type === "webhook-outgoing") {
        api
          .get("integrations.history", { id: doc._id, count: 1, offset: 0 })
          .then((data) => {
            const entry = (data.history || [])[0];
            delivery.textContent = deliveryOutcome(entry);
            if (entry) delivery.title = `${entry.step || ""} at ${entry._updatedAt || ""}`;
            if (delivery.textContent.startsWith("error")) delivery.className = "bad";
            else if (delivery.textContent === "delivered") delivery.className = "good";
          })
          .catch(() => {
            delivery.textContent = "unknown";
          });
      }
      return el(
        "tr",
        {},
        el("td", {}, el("a", { href: `#/integrations/${encodeURIComponent(doc._id)}`, text: doc.name || "(no name)" })),
        el("td", { text: typeName(doc.type) }),
        el("td", { text: doc.enabled ? "Yes" : "No" }),
        el("td", { class: "wrap-anywhere", text: channels(doc) }),
        el("td", { text: (doc._createdBy && doc._createdBy.username) || "" }),
        delivery,
      );
    }

    let typing = null;
    nameInput.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        listState.name = nameInput.value.trim();
        listState.offset = 0;
        load();
      }, 300);
    });
    cleanups.push(() => clearTimeout(typing));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(typing);
      listState.name = nameInput.value.trim();
      listState.offset = 0;
      load();
    });
    typeSelect.addEventListener("change", () => {
      listState.type = typeSelect.value;
      listState.offset = 0;
      load();
    });
    previous.addEventListener("click", () => {
      listState.offset = Math.max(0, listState.offset - PAGE_SIZE);
      load();
    });
    next.addEventListener("click", () => {
      listState.offset += PAGE_SIZE;
      load();
    });
    load();
  }

  // ---- form fields ------------------------------------------------------------------------

  function textField(id, label, value, options) {
    const opts = options || {};
    const input = el(opts.multiline ? "textarea" : "input", {
      id,
      type: opts.multiline ? undefined : opts.type || "text",
      placeholder: opts.placeholder,
      autocomplete: "off",
      spellcheck: opts.multiline ? "false" : undefined,
      rows: opts.multiline ? "3" : undefined,
      min: opts.min,
      "aria-describedby": opts.hint ? `${id}-hint` : undefined,
    });
    input.value = value === undefined || value === null ? "" : String(value);
    const node = el(
      "div",
      { class: "field" },
      el("label", { for: id, text: label }),
      input,
      opts.hint ? el("p", { class: "hint", id: `${id}-hint`, text: opts.hint }) : null,
    );
    return { node, input };
  }

  function checkField(id, label, checked, hint) {
    const input = el("input", { id, type: "checkbox", "aria-describedby": hint ? `${id}-hint` : undefined });
    input.checked = Boolean(checked);
    const node = el(
      "div",
      { class: "field check" },
      input,
      el("label", { for: id, text: label }),
      hint ? el("p", { class: "hint", id: `${id}-hint`, text: hint }) : null,
    );
    return { node, input };
  }

  function selectField(id, label, choices, value, hint) {
    const input = el(
      "select",
      { id, "aria-describedby": hint ? `${id}-hint` : undefined },
      choices.map(([optionValue, text]) => el("option", { value: optionValue, text: `${text} (${optionValue})` })),
    );
    input.value = value || choices[0][0];
    const node = el(
      "div",
      { class: "field" },
      el("label", { for: id, text: label }),
      input,
      hint ? el("p", { class: "hint", id: `${id}-hint`, text: hint }) : null,
    );
    return { node, input };
  }

  function readonlyField(id, label, value) {
    const input = el("input", { id, type: "text", readonly: true, class: "mono" });
    input.value = value;
    return { node: el("div", { class: "field" }, el("label", { for: id, text: label }), input), input };
  }

  function joinList(value, separator) {
    if (Array.isArray(value)) return value.join(separator);
    return value || "";
  }

  function splitList(text, pattern) {
    return text
      .split(pattern)
      .map((part) => part.trim())
      .filter(Boolean);
  }

  // The script editor of the other helper, or a plain labelled textarea until it exists.
  function mountEditor(container, value) {
    if (Hookhub.editor && typeof Hookhub.editor.mount === "function") {
      return Hookhub.editor.mount(container, { id: "f-script", label: "Script", value: value || "" });
    }
    const area = el("textarea", { id: "f-script", class: "mono", rows: "12", spellcheck: "false" });
    area.value = value || "";
    const problem = el("p", { class: "alert", role: "alert", hidden: true });
    container.append(el("div", { class: "field" }, el("label", { for: "f-script", text: "Script" }), area, problem));
    return {
      getValue: () => area.value,
      setValue(v) {
        area.value = v || "";
      },
      showError(scriptError) {
        problem.hidden = !scriptError;
        problem.textContent = scriptError
          ? `${scriptError.name || "Error"}: ${scriptError.message || ""}${scriptError.line ? ` (line ${scriptError.line})` : ""}`
          : "";
      },
      focus: () => area.focus(),
    };
  }

  function mountTryIt(container, type, editor, integrationId) {
    if (Hookhub.tryIt && typeof Hookhub.tryIt.mount === "function") {
      Hookhub.tryIt.mount(container, { type, getScript: () => editor.getValue(), editor, integrationId });
    }
  }

  async function copyText(text, input) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (_error) {
      /* fall back to the selection below */
    }
    if (input) {
      input.focus();
      input.select();
      try {
        return document.execCommand("copy");
      } catch (_error) {
        return false;
      }
    }
    return false;
  }

  function copyButton(label, input, doneText) {
    const done = el("span", { class: "copied", role: "status" });
    let timer = null;
    const button = el("button", {
      type: "button",
      text: label,
      onclick: async () => {
        const ok = await copyText(input.value, input);
        done.textContent = ok ? doneText : "Copy failed: select the text and copy it by hand.";
        clearTimeout(timer);
        timer = setTimeout(() => {
          done.textContent = "";
        }, 4000);
      },
    });
    cleanups.push(() => clearTimeout(timer));
    return el("div", { class: "inline-actions" }, button, done);
  }

  // ---- the edit page (both kinds) ---------------------------------------------------------

  function integrationPage(kind, id) {
    const alive = newPage(heading(id ? "Integration" : newTitle(kind)), loading());
    if (!id) {
      renderEditor(alive, kind, null);
      return;
    }
    api
      .get("integrations.get", { integrationId: id })
      .then((data) => {
        if (!alive()) return;
        const doc = data.integration;
        renderEditor(alive, doc.type === "webhook-outgoing" ? "outgoing" : "incoming", doc);
      })
      .catch((error) => {
        if (!alive() || isSessionEnd(error)) return;
        const errors = alertBox();
        newPage(
          heading("Integration not available"),
          errors.node,
          el("p", {}, el("a", { href: "#/integrations", text: "Back to integrations" })),
        );
        errors.show(messageOf(error));
      });
  }

  function newTitle(kind) {
    return kind === "outgoing" ? "New outgoing webhook" : "New incoming webhook";
  }

  function renderEditor(_alive, kind, doc) {
    const saved = Boolean(doc);
    const d = doc || {};
    const type = kind === "outgoing" ? "webhook-outgoing" : "webhook-incoming";
    const errors = alertBox();
    const fields = {};
    const add = (name, field) => {
      fields[name] = field.input;
      return field.node;
    };

    const basics = [
      add("name", textField("f-name", "Name", d.name)),
      add("enabled", checkField("f-enabled", "Enabled", saved ? d.enabled : true)),
    ];
    let specific;
    if (kind === "outgoing") {
      specific = [
        add(
          "event",
          selectField("f-event", "Event", EVENTS, d.event, "What makes the server call the URLs."),
        ),
        add(
          "channel",
          textField("f-channel", "Channel", joinList(d.channel, ", "), {
            placeholder: "#general",
            hint: "Rooms to listen in, comma-separated (#channel, @user, all_public_channels…); empty for all public channels.",
          }),
        ),
        add(
          "triggerWords",
          textField("f-trigger", "Trigger words", joinList(d.triggerWords, ", "), {
            hint: "Comma-separated; only messages starting with one of them are sent. Empty: every message.",
          }),
        ),
        add(
          "urls",
          textField("f-urls", "URLs", joinList(d.urls, "\n"), {
            multiline: true,
            placeholder: "https://example.com/hook",
            hint: "One per line.",
          }),
        ),
        add("token", textField("f-token", "Token", d.token, { hint: "Sent to the URLs as the token field." })),
        add("username", textField("f-username", "Post as", d.username, { placeholder: "rocket.cat" })),
        add("impersonateUser", checkField("f-impersonate", "Impersonate user", d.impersonateUser)),
        add("runOnEdits", checkField("f-run-on-edits", "Run on edits", d.runOnEdits)),
        add("retryFailedCalls", checkField("f-retry", "Retry failed calls", d.retryFailedCalls)),
        add(
          "retryCount",
          textField("f-retry-count", "Retry count", d.retryCount === undefined ? 5 : d.retryCount, {
            type: "number",
            min: "0",
          }),
        ),
        add("retryDelay", selectField("f-retry-delay", "Retry delay", RETRY_DELAYS, d.retryDelay)),
        add(
          "targetRoom",
          textField("f-target-room", "Target room", d.targetRoom, {
            placeholder: "#general",
            hint: "Where replies are posted (needed for the User created event).",
          }),
        ),
      ];
    } else {
      specific = [
        add("username", textField("f-username", "Post as", d.username, { placeholder: "rocket.cat" })),
        add(
          "channel",
          textField("f-channel", "Channel", joinList(d.channel, ", "), {
            placeholder: "#general",
            hint: "Where messages are posted: #channel or @user; several comma-separated.",
          }),
        ),
      ];
    }
    const appearance = [
      add("alias", textField("f-alias", "Alias", d.alias)),
      add("avatar", textField("f-avatar", "Avatar URL", d.avatar, { type: "url", placeholder: "https://…" })),
      add("emoji", textField("f-emoji", "Emoji", d.emoji, { placeholder: ":ghost:" })),
    ];
    if (kind === "incoming") {
      appearance.push(
        add(
          "overrideDestinationChannelEnabled",
          checkField(
            "f-override",
            "Allow the payload to override the channel",
            d.overrideDestinationChannelEnabled,
            "A request may then name its own channel.",
          ),
        ),
      );
    }
    const scriptEnabled = checkField("f-script-enabled", "Script enabled", d.scriptEnabled);
    fields.scriptEnabled = scriptEnabled.input;
    const editorBox = el("div", { class: "editor-box" });
    const tryBox = el("div", { class: "try-box" });
    const saveButton = el("button", { type: "submit", class: "primary", text: "Save" });

    const form = el(
      "form",
      { class: "integration-form", novalidate: true },
      el("fieldset", {}, el("legend", { text: "Settings" }), basics, specific),
      el("fieldset", {}, el("legend", { text: "Message appearance" }), appearance),
      el("fieldset", { class: "script" }, el("legend", { text: "Script" }), scriptEnabled.node, editorBox),
      errors.node,
      el("div", { class: "actions" }, saveButton),
    );

    const title = saved ? `${kind === "outgoing" ? "Outgoing" : "Incoming"} webhook: ${d.name}` : newTitle(kind);
    const deleteButton = saved ? el("button", { type: "button", class: "danger", text: "Delete" }) : null;
    const details = saved ? (kind === "outgoing" ? outgoingDetails(d) : incomingDetails(d)) : null;
    newPage(
      heading(title),
      el("p", { class: "back" }, el("a", { href: "#/integrations", text: "Back to integrations" })),
      takeFlash(),
      details,
      form,
      el("section", { class: "try", "aria-label": "Try it" }, tryBox),
      deleteButton ? el("section", { class: "danger-zone", "aria-label": "Delete" }, deleteButton) : null,
    );
    const editor = mountEditor(editorBox, d.script);
    if (d.scriptError) editor.showError(d.scriptError);
    mountTryIt(tryBox, type, editor, saved ? d._id : undefined);
    if (deleteButton) deleteButton.addEventListener("click", () => confirmDelete(d, deleteButton));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.clear();
      const body = payload(kind, fields, editor);
      if (!body.name) {
        errors.show("Give the integration a name.");
        fields.name.focus();
        return;
      }
      if (saved) body.integrationId = d._id;
      saveButton.disabled = true;
      saveButton.textContent = "Saving…";
      try {
        const data = saved ? await api.put("integrations.update", body) : await api.post("integrations.create", body);
        const stored = data.integration;
        flash = `Saved ${stored && stored.name ? stored.name : body.name}.`;
        if (!stored || !stored._id) {
          route();
          return;
        }
        go(`#/integrations/${encodeURIComponent(stored._id)}`);
      } catch (error) {
        if (isSessionEnd(error)) return;
        errors.show(messageOf(error));
      } finally {
        saveButton.disabled = false;
        saveButton.textContent = "Save";
      }
    });
  }

  function payload(kind, f, editor) {
    const body = {
      type: kind === "outgoing" ? "webhook-outgoing" : "webhook-incoming",
      name: f.name.value.trim(),
      enabled: f.enabled.checked,
      username: f.username.value.trim(),
      channel: splitList(f.channel.value, ",").join(","),
      alias: f.alias.value.trim(),
      avatar: f.avatar.value.trim(),
      emoji: f.emoji.value.trim(),
      scriptEnabled: f.scriptEnabled.checked,
      script: editor.getValue(),
    };
    if (kind === "incoming") {
      body.overrideDestinationChannelEnabled = f.overrideDestinationChannelEnabled.checked;
      return body;
    }
    body.event = f.event.value;
    body.triggerWords = splitList(f.triggerWords.value, ",");
    body.urls = splitList(f.urls.value, /\r?\n/);
    body.token = f.token.value.trim();
    body.impersonateUser = f.impersonateUser.checked;
    body.runOnEdits = f.runOnEdits.checked;
    body.retryFailedCalls = f.retryFailedCalls.checked;
    const count = f.retryCount.value.trim();
    if (count !== "") body.retryCount = Number(count);
    body.retryDelay = f.retryDelay.value;
    body.targetRoom = f.targetRoom.value.trim();
    return body;
  }

  function hookUrl(doc) {
    return `${window.location.origin}/hooks/${encodeURIComponent(doc._id)}/${encodeURIComponent(doc.token || "")}`;
  }

  function shellQuote(text) {
    return `'${text.replace(/'/g, "'\\''")}'`;
  }

  function incomingDetails(doc) {
    const url = hookUrl(doc);
    const urlField = readonlyField("f-webhook-url", "Webhook URL", url);
    const curl =
      `curl -X POST -H 'Content-Type: application/json' \\\n` +
      `  --data '{"text": "Hello from curl"}' \\\n  ${shellQuote(url)}`;

    const testOutcome = el("p", { class: "status", role: "status" });
    const testError = alertBox();
    const testButton = el("button", { type: "button", text: "Send test message" });
    testButton.addEventListener("click", async () => {
      testError.clear();
      testOutcome.textContent = "Sending…";
      testButton.disabled = true;
      try {
        const path = new URL(url).pathname;
        await api.raw("POST", path, { text: "Test message from hookhub" });
        testOutcome.textContent = "Test message sent.";
        refresh();
      } catch (error) {
        testOutcome.textContent = "";
        testError.show(`The test message failed: ${messageOf(error)}`);
      } finally {
        testButton.disabled = false;
      }
    });

    const target = (Array.isArray(doc.channel) ? doc.channel : splitList(doc.channel || "", ","))[0] || "";
    const count = el("p", { class: "count", role: "status" });
    const countError = alertBox();
    const refreshButton = el("button", { type: "button", text: "Refresh count" });
    let counting = 0;
    async function refresh() {
      const mine = ++counting;
      countError.clear();
      if (!target.startsWith("#")) {
        count.textContent = target ? `Message counts are shown for channels only (${target}).` : "";
        refreshButton.hidden = true;
        return;
      }
      const name = target.slice(1);
      refreshButton.disabled = true;
      try {
        let room;
        try {
          room = (await api.get("channels.info", { roomName: name })).channel;
        } catch (error) {
          if (!(error instanceof api.ApiError) || error.status === 401 || error.status === 0) throw error;
          room = (await api.get("groups.info", { roomName: name })).group;
        }
        if (mine === counting) count.textContent = `Messages in ${target}: ${room && room.msgs ? room.msgs : 0}`;
      } catch (error) {
        if (mine === counting && !isSessionEnd(error)) countError.show(`Could not count the messages: ${messageOf(error)}`);
      } finally {
        refreshButton.disabled = false;
      }
    }
    refreshButton.addEventListener("click", refresh);
    refresh();

    return el(
      "section",
      { class: "card details", "aria-labelledby": "hook-heading" },
      el("h2", { id: "hook-heading", text: "Use this webhook" }),
      urlField.node,
      copyButton("Copy URL", urlField.input, "Copied"),
      el("h3", { id: "curl-heading", text: "curl example" }),
      el("pre", { class: "code", tabindex: "0", "aria-labelledby": "curl-heading" }, el("code", { text: curl })),
      el("div", { class: "inline-actions" }, testButton),
      testOutcome,
      testError.node,
      el("div", { class: "inline-actions" }, count, refreshButton),
      countError.node,
    );
  }

  function outgoingDetails(doc) {
    const secret = readonlyField("f-signing-secret", "Signing secret", doc.signingSecret || "");
    return el(
      "section",
      { class: "card details", "aria-labelledby": "out-heading" },
      el("h2", { id: "out-heading", text: "Deliveries" }),
      secret.node,
      el("p", { class: "hint", text: "Use it to check the signature of the requests the URLs receive." }),
      copyButton("Copy secret", secret.input, "Copied"),
      el("p", {}, el("a", { href: `#/integrations/${encodeURIComponent(doc._id)}/history`, text: "History" })),
    );
  }

  // ---- delete -----------------------------------------------------------------------------

  function confirmDelete(doc, opener) {
    const errors = alertBox();
    const confirm = el("button", { type: "button", class: "danger", text: "Delete" });
    const cancel = el("button", { type: "button", text: "Cancel" });
    const dialog = el(
      "dialog",
      { class: "confirm", "aria-labelledby": "delete-heading", "aria-describedby": "delete-text" },
      el("h2", { id: "delete-heading", text: "Delete integration?" }),
      el("p", { id: "delete-text", text: `${doc.name} will be removed for good. This cannot be undone.` }),
      errors.node,
      el("div", { class: "actions" }, confirm, cancel),
    );
    main.append(dialog);
    const close = () => {
      dialog.close();
      dialog.remove();
      if (opener.isConnected) opener.focus();
    };
    cancel.addEventListener("click", close);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close();
    });
    confirm.addEventListener("click", async () => {
      errors.clear();
      confirm.disabled = true;
      try {
        await api.post("integrations.remove", { type: doc.type, integrationId: doc._id });
        dialog.close();
        dialog.remove();
        flash = `Deleted ${doc.name}`;
        go("#/integrations");
      } catch (error) {
        if (isSessionEnd(error)) return;
        errors.show(messageOf(error));
        confirm.disabled = false;
      }
    });
    dialog.showModal();
    cancel.focus();
  }

  // ---- history ----------------------------------------------------------------------------

  function historyPage(id) {
    const title = heading("History");
    const container = el("div", { class: "history-box" });
    const errors = alertBox();
    const alive = newPage(
      title,
      el("p", { class: "back" }, el("a", { href: `#/integrations/${encodeURIComponent(id)}`, text: "Back to the integration" })),
      errors.node,
      container,
    );
    api
      .get("integrations.get", { integrationId: id })
      .then((data) => {
        if (alive()) title.textContent = `History: ${data.integration.name}`;
      })
      .catch((error) => {
        if (alive() && !isSessionEnd(error)) errors.show(messageOf(error));
      });
    if (Hookhub.history && typeof Hookhub.history.render === "function") {
      const viewer = Hookhub.history.render(container, id);
      if (viewer && typeof viewer.stop === "function") cleanups.push(() => viewer.stop());
    } else {
      container.append(el("p", { text: "The history viewer is not available." }));
    }
  }

  // ---- routing ----------------------------------------------------------------------------

  function route() {
    showAccount();
    if (!api.session()) {
      loginPage();
      return;
    }
    const path = window.location.hash.replace(/^#/, "") || "/integrations";
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] === "login" || parts.length === 0) {
      go("#/integrations");
      return;
    }
    if (parts[0] !== "integrations") {
      notFound();
      return;
    }
    if (parts.length === 1) listPage();
    else if (parts[1] === "new" && (parts[2] === "incoming" || parts[2] === "outgoing") && parts.length === 3) {
      integrationPage(parts[2], null);
    } else if (parts.length === 2) integrationPage(null, parts[1]);
    else if (parts.length === 3 && parts[2] === "history") historyPage(parts[1]);
    else notFound();
  }

  function notFound() {
    newPage(
      heading("Page not found"),
      el("p", {}, "There is no such page. ", el("a", { href: "#/integrations", text: "Go to the integrations" })),
    );
  }

  api.onSessionChange((current) => {
    showAccount();
    if (!current) {
      // logged out, or a call answered 401: back to the login form
      if (window.location.hash === "#/login") route();
      else window.location.hash = "#/login";
    }
  });

  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      // the session listener below shows the login form once the session is gone
      flash = "You are logged out.";
      try {
        await api.logout();
      } catch (_error) {
        /* the session is dropped locally either way */
      }
      if (api.session()) flash = null;
    });
  }

  window.addEventListener("hashchange", route);
  route();
})();
