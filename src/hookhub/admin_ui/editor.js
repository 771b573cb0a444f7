// The script editor (a textarea with a line-number gutter and the compile error shown on its line)
// and the "Try it" panel (runs a script in the sandbox through integrations.dryRun; nothing is
// posted or sent). Hand-written, no build step; the page's CSP allows no inline script or style,
// so everything here is DOM calls, classes and addEventListener.
"use strict";
(function () {
  const Hookhub = (window.Hookhub = window.Hookhub || {});

  const el = Hookhub.dom.el;

  const positiveInt = (value) => {
    const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    return Number.isInteger(n) && n > 0 ? n : null;
  };

  // Where a script error happened: {line, column|null}, or null when it cannot be told.
  // `line`/`column` (a dry run's scriptError) win. Otherwise the message and the stack's header
  // (the lines before the first "    at ..." frame) are searched for "<anonymous>:3:5" or
  // "<anonymous>:3: SyntaxError ...". The frames of a SyntaxError are the compiler's caller (the
  // stored compile stacks of hookhub point into its checker, not the script), so they are only
  // searched for other errors, whose first frame is the script's own code.
  const POSITION = /<[\w .-]+>:(\d+)(?::(\d+))?/;
  function locate(error) {
    if (!error || typeof error !== "object") return null;
    const line = positiveInt(error.line);
    if (line) return { line, column: positiveInt(error.column) };
    const stack = typeof error.stack === "string" ? error.stack.split("\n") : [];
    const firstFrame = stack.findIndex((text) => /^\s+at\s/.test(text));
    const header = firstFrame === -1 ? stack : stack.slice(0, firstFrame);
    const places = [String(error.message || ""), ...header];
    if (error.name !== "SyntaxError" && firstFrame !== -1) places.push(stack[firstFrame]);
    for (const text of places) {
      const found = POSITION.exec(text);
      if (found) return { line: Number(found[1]), column: found[2] ? Number(found[2]) : null };
    }
    return null;
  }

  // "SyntaxError: Unexpected token '}'" (without repeating a name the message already starts with)
  function describe(error) {
    const name = error.name ? String(error.name) : "";
    // a position in front of the message ("<anonymous>:3: SyntaxError: ...") is told apart
    const message = error.message ? String(error.message).replace(/^<[\w .-]+>:\d+(?::\d+)?:?\s*/, "") : "";
    if (!name) return message || "The script has an error.";
    if (!message) return name;
    return message.startsWith(`${name}:`) ? message : `${name}: ${message}`;
  }

  function errorText(error) {
    const where = locate(error);
    if (!where) return describe(error);
    const column = where.column ? `, column ${where.column}` : "";
    return `Line ${where.line}${column}: ${describe(error)}`;
  }

  // Editor handle -> {locate(error)}: set by a Try-it panel, which can ask the server (a dry run)
  // where a stored compile error is when the stored error does not say.
  const locators = new WeakMap();

  function mountEditor(container, { id, label, value }) {
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const textarea = el("textarea", {
      id,
      class: "hh-editor-input",
      spellcheck: "false",
      autocomplete: "off",
      autocapitalize: "off",
      wrap: "off",
      rows: "14",
      "aria-describedby": `${hintId} ${errorId}`,
    });
    textarea.value = value || "";
    const lines = el("div", { class: "hh-editor-lines" });
    const gutter = el("div", { class: "hh-editor-gutter", "aria-hidden": "true" }, [lines]);
    const alert = el("p", { id: errorId, class: "hh-editor-error", role: "alert" });
    const root = el("div", { class: "hh-editor" }, [
      el("label", { for: id, class: "hh-editor-label", text: label }),
      el("p", {
        id: hintId,
        class: "hh-hint",
        text: "Tab inserts two spaces. To leave the editor with the keyboard, press Escape, then Tab (or use Shift+Tab).",
      }),
      el("div", { class: "hh-editor-frame" }, [gutter, textarea]),
      alert,
    ]);
    container.append(root);

    let errorLine = null;
    let current = null; // the error shown

    function renderGutter() {
      const count = textarea.value.split("\n").length;
      if (lines.childElementCount !== count) {
        const spans = [];
        for (let n = 1; n <= count; n += 1) spans.push(el("span", { class: "hh-editor-line", text: String(n) }));
        lines.replaceChildren(...spans);
      }
      Array.from(lines.children).forEach((span, index) => {
        span.classList.toggle("hh-editor-line-error", errorLine === index + 1);
      });
      gutter.scrollTop = textarea.scrollTop;
    }

    // Tab indents; Escape then Tab lets the Tab move focus on (no keyboard trap).
    let escaped = false;
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        escaped = true;
        return;
      }
      if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey) {
        if (escaped) {
          escaped = false;
          return; // the browser moves the focus to the next field
        }
        event.preventDefault();
        // execCommand keeps the browser's undo history; setRangeText where it is not supported
        if (!document.execCommand || !document.execCommand("insertText", false, "  ")) {
          textarea.setRangeText("  ", textarea.selectionStart, textarea.selectionEnd, "end");
          renderGutter();
        }
        return;
      }
      if (!["Shift", "Control", "Alt", "Meta"].includes(event.key)) escaped = false;
    });
    textarea.addEventListener("blur", () => {
      escaped = false;
    });
    textarea.addEventListener("input", renderGutter);
    textarea.addEventListener("scroll", () => {
      gutter.scrollTop = textarea.scrollTop;
    });

    const handle = {
      getValue: () => textarea.value,
      setValue(next) {
        textarea.value = next || "";
        renderGutter();
      },
      showError(error) {
        current = error || null;
        if (!current) {
          errorLine = null;
          alert.textContent = "";
          textarea.removeAttribute("aria-invalid");
          root.classList.remove("hh-editor-has-error");
          renderGutter();
          return;
        }
        const where = locate(current);
        errorLine = where ? where.line : null;
        alert.textContent = errorText(current);
        textarea.setAttribute("aria-invalid", "true");
        root.classList.add("hh-editor-has-error");
        renderGutter();
        const locator = locators.get(handle);
        if (!where && locator) locator.locate(current);
      },
      focus: () => textarea.focus(),
    };
    // for the Try-it panel of this file: the error shown right now
    Object.defineProperty(handle, "_currentError", { get: () => current, enumerable: false });
    renderGutter();
    return handle;
  }

  Hookhub.editor = { mount: mountEditor, locate, errorText };

  // ---- Try it -------------------------------------------------------------------------------

  const SAMPLES = {
    incoming: { headers: { "content-type": "application/json" }, body: { text: "Hello" }, query: {} },
    outgoing: { event: "sendMessage", text: "Hello", user_name: "admin", channel_name: "general" },
  };
  const OUTCOMES = {
    ok: "The script ran without errors.",
    error: "The script failed with an error.",
    timeout: "The script took too long and was stopped.",
    out_of_memory: "The script used too much memory and was stopped.",
    compile_error: "The script does not compile.",
    disabled: "Scripts are turned off on this server, so the script was not run.",
  };
  // statuses after which the script is known to compile: a shown compile error is out of date
  const COMPILED = new Set(["ok", "error", "timeout", "out_of_memory"]);

  let tryItCount = 0;

  function mountTryIt(container, { type, getScript, editor, integrationId }) {
    tryItCount += 1;
    const prefix = `hh-tryit-${tryItCount}`;
    const kind = /outgoing/i.test(String(type || "")) ? "outgoing" : "incoming";
    const sample = el("textarea", {
      id: `${prefix}-sample`,
      class: "hh-tryit-sample",
      spellcheck: "false",
      autocomplete: "off",
      rows: "9",
      "aria-describedby": `${prefix}-sample-error`,
    });
    sample.value = JSON.stringify(SAMPLES[kind], null, 2);
    const run = el("button", { type: "button", class: "hh-button", text: "Run script" });
    // an outgoing integration's deliveries are recorded: one can be the sample
    const recorded =
      kind === "outgoing" && integrationId
        ? el("button", { type: "button", class: "hh-button", text: "Use the latest recorded request" })
        : null;
    const problem = el("p", { id: `${prefix}-sample-error`, class: "hh-tryit-problem", role: "alert" });
    const output = el("div", {
      class: "hh-tryit-output",
      role: "status",
      "aria-labelledby": `${prefix}-result`,
    });
    output.append(el("p", { class: "hh-muted", text: "Run the script to see what it returns." }));
    const section = el("section", { class: "hh-tryit", "aria-labelledby": `${prefix}-heading` }, [
      el("h2", { id: `${prefix}-heading`, text: "Try it" }),
      el("p", {
        class: "hh-hint",
        text: "Runs the script in the sandbox against the sample request. Nothing is posted or sent.",
      }),
      el("label", { for: sample.id, text: "Sample request (JSON)" }),
      sample,
      el("div", { class: "hh-actions" }, recorded ? [run, recorded] : [run]),
      problem,
      el("h3", { id: `${prefix}-result`, text: "Result" }),
      output,
    ]);
    container.append(section);

    function parseSample() {
      try {
        return { ok: true, value: JSON.parse(sample.value) };
      } catch (error) {
        return { ok: false, message: error && error.message ? error.message : String(error) };
      }
    }

    function body(request) {
      const data = { type, script: getScript(), request };
      if (integrationId) data.integrationId = integrationId;
      return data;
    }

    function showOutcome(data) {
      const parts = [];
      const status = data.status || "unknown";
      parts.push(
        el("p", { class: `hh-outcome hh-outcome-${status === "ok" ? "ok" : "bad"}` }, [
          el("strong", { text: "Outcome: " }),
          OUTCOMES[status] || `The run ended with status "${status}".`,
        ]),
      );
      if (status === "ok" || (data.result !== null && data.result !== undefined)) {
        parts.push(el("h4", { text: "Returned value" }));
        parts.push(el("pre", { class: "hh-code", text: JSON.stringify(data.result ?? null, null, 2) }));
      }
      if (data.error) {
        parts.push(el("h4", { text: "Error" }));
        parts.push(el("pre", { class: "hh-code hh-code-error", text: String(data.error) }));
      }
      if (data.scriptError) {
        parts.push(el("p", { class: "hh-error-text", text: errorText(data.scriptError) }));
      }
      if (data.outcome && typeof data.outcome === "object") {
        // incoming scripts: what /hooks would have done with the result (nothing was done)
        parts.push(el("h4", { text: "What the webhook would do" }));
        parts.push(el("pre", { class: "hh-code", text: JSON.stringify(data.outcome, null, 2) }));
      }
      const logs = Array.isArray(data.logs) ? data.logs : [];
      parts.push(el("h4", { text: "Console" }));
      if (logs.length) {
        parts.push(
          el(
            "ol",
            { class: "hh-console", "aria-label": "Console output" },
            logs.map((entry) =>
              el("li", { class: `hh-console-${entry.level || "log"}` }, [
                el("span", { class: "hh-console-level", text: `${entry.level || "log"}: ` }),
                String(entry.text ?? ""),
              ]),
            ),
          ),
        );
      } else {
        parts.push(el("p", { class: "hh-muted", text: "No console output." }));
      }
      output.replaceChildren(...parts);
    }

    let running = false;
    async function runScript() {
      if (running) return;
      problem.textContent = "";
      sample.removeAttribute("aria-invalid");
      const parsed = parseSample();
      if (!parsed.ok) {
        sample.setAttribute("aria-invalid", "true");
        problem.textContent = `The sample request is not valid JSON: ${parsed.message}`;
        return;
      }
      running = true;
      run.setAttribute("aria-busy", "true");
      output.replaceChildren(el("p", { class: "hh-muted", text: "Running the script…" }));
      try {
        const data = await Hookhub.api.post("integrations.dryRun", body(parsed.value));
        showOutcome(data);
        if (editor) {
          if (data.scriptError) {
            // this run already asked the server: no second dry run to locate the error
            const before = locating;
            locating = true;
            try {
              editor.showError(data.scriptError);
            } finally {
              locating = before;
            }
          } else if (COMPILED.has(data.status)) editor.showError(null);
        }
      } catch (error) {
        output.replaceChildren(el("p", { class: "hh-muted", text: "The script was not run." }));
        problem.textContent = error && error.message ? error.message : String(error);
      } finally {
        running = false;
        run.removeAttribute("aria-busy");
      }
    }
    run.addEventListener("click", runScript);

    async function useRecorded() {
      problem.textContent = "";
      try {
        const data = await Hookhub.api.get("integrations.history", { id: integrationId, count: 1, offset: 0 });
        const latest = data.history && data.history[0];
        if (!latest || !latest.data) {
          problem.textContent = "No delivery has been recorded for this integration yet.";
          return;
        }
        sample.value = JSON.stringify({ event: latest.event, ...latest.data }, null, 2);
        sample.removeAttribute("aria-invalid");
        sample.focus();
      } catch (error) {
        problem.textContent = error && error.message ? error.message : String(error);
      }
    }
    if (recorded) recorded.addEventListener("click", useRecorded);

    // A compile error without a position (a stored scriptError): a silent dry run of the same
    // script tells the line. Shown only if nothing changed meanwhile.
    let locating = false;
    async function locateError(error) {
      if (locating || !editor) return;
      locating = true;
      const script = getScript();
      const parsed = parseSample();
      try {
        const data = await Hookhub.api.post("integrations.dryRun", body(parsed.ok ? parsed.value : SAMPLES[kind]));
        const found = data && data.scriptError;
        if (found && locate(found) && editor._currentError === error && getScript() === script) {
          editor.showError(found);
        }
      } catch (_error) {
        // the message stays, without a line
      } finally {
        locating = false;
      }
    }
    if (editor) {
      locators.set(editor, { locate: locateError });
      const shown = editor._currentError;
      if (shown && !locate(shown)) locateError(shown);
    }

    return {
      run: runScript,
    };
  }

  Hookhub.tryIt = { mount: mountTryIt };
})();
