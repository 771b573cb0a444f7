// hookhub script sandbox: the compatibility shim evaluated in every integration's V8 context
// before the user's script (webhook-runtime.md §4.3-4.4). Loaded by runtime/sandbox.py, which
// replaces the __LIMIT__ placeholders with numbers. Everything crossing to Python is a JSON string
// built here, so Python never touches live V8 objects (those calls would block on a busy isolate).
(function () {
  "use strict";
  const g = globalThis;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const LOG_MAX_ENTRIES = __LOG_MAX_ENTRIES__;
  const LOG_MAX_TEXT = __LOG_MAX_TEXT__;
  const RESULT_MAX_CHARS = __RESULT_MAX_CHARS__;

  // Removed globals, for two reasons.
  // 1. Nothing may run after a call has returned its result, outside every time limit: remove
  //    what schedules work for later (mini-racer's setTimeout and the Atomics.waitAsync it is
  //    built on, GC-driven FinalizationRegistry callbacks, asynchronous WebAssembly compilation).
  //    Rocket.Chat's isolate has no timers either (§4.4).
  // 2. Binary buffers live outside the V8 heap, so the heap limit does not see them: a loop of
  //    `new Uint8Array(1e8)` would exhaust the host's memory. No built-in returns one, so without
  //    these constructors a script cannot get at them at all.
  const removed = [
    "setTimeout", "clearTimeout", "FinalizationRegistry", "WebAssembly", "Atomics",
    "ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray",
    "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float16Array", "Float32Array",
    "Float64Array", "BigInt64Array", "BigUint64Array",
  ];
  for (const name of removed) {
    try {
      delete g[name];
    } catch (e) {
      g[name] = undefined;
    }
  }

  // ---- console: captured into a bounded buffer returned with each call ------------------------
  let logs = [];
  let dropped = 0;
  function show(value) {
    if (typeof value === "string") return value;
    if (value instanceof Error) return String(value.stack || value);
    if (typeof value === "function") return "[Function" + (value.name ? ": " + value.name : "") + "]";
    try {
      const text = stringify(value);
      return text === undefined ? String(value) : text;
    } catch (e) {
      return String(value);
    }
  }
  function capture(level) {
    return function () {
      if (logs.length >= LOG_MAX_ENTRIES) {
        dropped += 1;
        return;
      }
      let text = Array.prototype.map.call(arguments, show).join(" ");
      if (text.length > LOG_MAX_TEXT) text = text.slice(0, LOG_MAX_TEXT) + "…";
      logs.push({ level: level, text: text });
    };
  }
  const console = {};
  for (const level of ["log", "info", "warn", "error", "debug", "trace"]) console[level] = capture(level);
  console.dir = console.log;
  g.console = console;

  // ---- Store: per integration, lives as long as this context (until the script changes) --------
  const store = Object.create(null);
  g.Store = {
    set: function (key, value) {
      store[key] = value;
      return value;
    },
    get: function (key) {
      return store[key];
    },
  };

  // ---- fetch: requests are handed to the host, which sends them through the egress guard --------
  // sandbox.py collects queued requests through __hookhub_poll, sends them (checking the per-call
  // limits), and settles each one through __hookhub_settle. Only while a method call is in
  // progress: the host cancels whatever is outstanding when the call ends, so a fetch never
  // outlives its call (nor runs while the script is being loaded).
  const FETCH_ENABLED = __FETCH_ENABLED__;
  let active = false; // a method call is in progress (from __hookhub_call until its result)
  let hostOperations = 0; // fetches the host has still to settle in this call
  let nextRequestId = 1; // never reused, so a late settlement cannot reach another request
  let outbox = []; // requests queued for the host, not collected yet
  let waiting = new Map(); // id -> {resolve, reject}

  function hasHeader(headers, name) {
    return Object.keys(headers).some(function (key) {
      return key.toLowerCase() === name;
    });
  }

  function encodeParam(value) {
    return encodeURIComponent(value instanceof Date ? value.toISOString() : String(value));
  }

  // `params` (an object) becomes a query string appended to the URL, before any fragment; an array
  // value repeats its key, undefined values are left out.
  function withParams(url, params) {
    const parts = [];
    for (const key of Object.keys(params)) {
      const value = params[key];
      const values = Array.isArray(value) ? value : [value];
      for (const item of values) {
        if (item === undefined) continue;
        parts.push(encodeURIComponent(key) + "=" + encodeParam(item === null ? "" : item));
      }
    }
    if (parts.length === 0) return url;
    const hash = url.indexOf("#");
    const base = hash >= 0 ? url.slice(0, hash) : url;
    const fragment = hash >= 0 ? url.slice(hash) : "";
    const query = base.indexOf("?");
    const joiner = query < 0 ? "?" : query === base.length - 1 || base.endsWith("&") ? "" : "&";
    return base + joiner + parts.join("&") + fragment;
  }

  // Rocket.Chat's options (webhook-runtime.md §4.4): method, headers, body, timeout, params, size.
  // Limits (count, body bytes, timeout against the call's time left) are enforced by the host.
  function describeRequest(url, options) {
    if (typeof url !== "string") {
      url = url && typeof url.href === "string" ? url.href : String(url);
    }
    if (options === undefined || options === null) options = {};
    if (typeof options !== "object") throw new TypeError("fetch options must be an object");
    const method = options.method === undefined || options.method === null ? "GET" : String(options.method).toUpperCase();
    const headers = {};
    const given = options.headers;
    if (given !== undefined && given !== null) {
      if (typeof given !== "object") throw new TypeError("fetch options.headers must be an object");
      const pairs = Array.isArray(given)
        ? given
        : Object.keys(given).map(function (key) {
            return [key, given[key]];
          });
      for (const pair of pairs) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError("fetch headers must be [name, value] pairs");
        if (pair[1] === undefined || pair[1] === null) continue;
        headers[String(pair[0])] = String(pair[1]);
      }
    }
    let body = null;
    if (options.body !== undefined && options.body !== null) {
      if (typeof options.body === "string") {
        body = options.body;
      } else {
        body = stringify(options.body); // a BigInt or a cycle throws: the fetch rejects with it
        if (body === undefined) throw new TypeError("fetch options.body cannot become JSON");
        if (!hasHeader(headers, "content-type")) headers["content-type"] = "application/json";
      }
    }
    let target = url;
    if (options.params !== undefined && options.params !== null) {
      if (typeof options.params !== "object") throw new TypeError("fetch options.params must be an object");
      target = withParams(url, options.params);
    }
    const timeout = typeof options.timeout === "number" && options.timeout >= 0 ? options.timeout : null;
    const size = typeof options.size === "number" && options.size > 0 ? options.size : null;
    return { method: method, url: target, headers: headers, body: body, timeout: timeout, size: size };
  }

  function makeResponse(result) {
    const body = result.body;
    return {
      status: result.status,
      ok: result.status >= 200 && result.status <= 299,
      statusText: result.statusText,
      url: result.url,
      redirected: result.redirected,
      headers: result.headers, // [[name, value], ...] as Rocket.Chat's isolate hands them over
      text: function () {
        return Promise.resolve(body);
      },
      json: function () {
        return new Promise(function (resolve) {
          resolve(parse(body));
        });
      },
      clone: function () {
        throw new Error("clone() is not supported on a script's fetch response");
      },
    };
  }

  // allowSelfSignedCerts is accepted for compatibility and ignored: certificates are always verified.
  g.fetch = function fetch(url, options, allowSelfSignedCerts) { // eslint-disable-line no-unused-vars
    if (!FETCH_ENABLED) return Promise.reject(new Error("fetch is not available in this server"));
    if (!active) return Promise.reject(new Error("fetch can only be used while a script method runs"));
    let request;
    try {
      request = describeRequest(url, options);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise(function (resolve, reject) {
      request.id = nextRequestId++;
      waiting.set(request.id, { resolve: resolve, reject: reject });
      outbox.push(request);
      hostOperations += 1;
    });
  };

  Object.defineProperty(g, "__hookhub_settle", {
    value: function (id, resultJson) {
      const entry = waiting.get(id);
      if (entry === undefined) return "gone";
      waiting.delete(id);
      hostOperations -= 1;
      const result = parse(resultJson);
      if (typeof result.error === "string") entry.reject(new Error(result.error));
      else entry.resolve(makeResponse(result));
      return "settled";
    },
  });

  // ---- s: the underscore.string subset Rocket.Chat exposes -----------------------------------
  function str(value) {
    return value == null ? "" : String(value);
  }
  function escapeRegExp(text) {
    return str(text).replace(/[-[\]/{}()*+?.\\^$|]/g, "\\$&");
  }
  function charsClass(chars) {
    return "[" + escapeRegExp(chars) + "]";
  }
  function repeat(text, count) {
    return count < 1 ? "" : new Array(count + 1).join(text);
  }
  function pad(value, length, padStr, type) {
    const text = str(value);
    length = ~~length;
    if (!padStr) padStr = " ";
    else if (padStr.length > 1) padStr = padStr.charAt(0);
    const missing = length - text.length;
    if (type === "right") return text + repeat(padStr, missing);
    if (type === "both") return repeat(padStr, Math.ceil(missing / 2)) + text + repeat(padStr, Math.floor(missing / 2));
    return repeat(padStr, missing) + text;
  }
  g.s = {
    truncate: function (value, length, truncateStr) {
      const text = str(value);
      truncateStr = truncateStr === undefined ? "..." : truncateStr;
      length = ~~length;
      return text.length > length ? text.slice(0, length) + truncateStr : text;
    },
    trim: function (value, chars) {
      const text = str(value);
      if (chars == null) return text.trim();
      const set = charsClass(chars);
      return text.replace(new RegExp("^" + set + "+|" + set + "+$", "g"), "");
    },
    ltrim: function (value, chars) {
      const text = str(value);
      if (chars == null) return text.replace(/^\s+/, "");
      return text.replace(new RegExp("^" + charsClass(chars) + "+"), "");
    },
    rtrim: function (value, chars) {
      const text = str(value);
      if (chars == null) return text.replace(/\s+$/, "");
      return text.replace(new RegExp(charsClass(chars) + "+$"), "");
    },
    capitalize: function (value, lowercaseRest) {
      const text = str(value);
      const rest = text.slice(1);
      return text.charAt(0).toUpperCase() + (lowercaseRest ? rest.toLowerCase() : rest);
    },
    stripTags: function (value) {
      return str(value).replace(/<\/?[^>]+>/g, "");
    },
    strLeft: function (value, sep) {
      const text = str(value);
      const pos = sep ? text.indexOf(sep) : -1;
      return pos >= 0 ? text.slice(0, pos) : text;
    },
    strLeftBack: function (value, sep) {
      const text = str(value);
      const pos = sep ? text.lastIndexOf(sep) : -1;
      return pos >= 0 ? text.slice(0, pos) : text;
    },
    strRight: function (value, sep) {
      const text = str(value);
      const pos = sep ? text.indexOf(sep) : -1;
      return pos >= 0 ? text.slice(pos + sep.length) : text;
    },
    strRightBack: function (value, sep) {
      const text = str(value);
      const pos = sep ? text.lastIndexOf(sep) : -1;
      return pos >= 0 ? text.slice(pos + sep.length) : text;
    },
    numberFormat: function (number, decimals, decimalSep, thousandsSep) {
      if (number == null || isNaN(number)) return "";
      const fixed = Number(number).toFixed(~~decimals);
      thousandsSep = typeof thousandsSep === "string" ? thousandsSep : ",";
      const parts = fixed.split(".");
      const fraction = parts[1] ? (decimalSep || ".") + parts[1] : "";
      return parts[0].replace(/(\d)(?=(?:\d{3})+$)/g, "$1" + thousandsSep) + fraction;
    },
    pad: pad,
    lpad: function (value, length, padStr) {
      return pad(value, length, padStr, "left");
    },
    rpad: function (value, length, padStr) {
      return pad(value, length, padStr, "right");
    },
    lrpad: function (value, length, padStr) {
      return pad(value, length, padStr, "both");
    },
    // `*` matches any run of characters, `?` one character; anchored, case-sensitive.
    wildcardToRegex: function (pattern) {
      const source = str(pattern)
        .split("")
        .map(function (c) {
          return c === "*" ? ".*" : c === "?" ? "." : escapeRegExp(c);
        })
        .join("");
      return new RegExp("^" + source + "$");
    },
  };

  // ---- the call protocol used by sandbox.py ---------------------------------------------------
  let instance = null;
  let pending = null;

  function describe(error) {
    const name = error && error.name ? String(error.name) : "Error";
    const message = error && error.message !== undefined ? String(error.message) : String(error);
    const stack = error && error.stack ? String(error.stack) : name + ": " + message;
    return { name: name, message: message, stack: stack };
  }

  function finish(record) {
    record.logs = logs;
    if (dropped > 0) {
      record.logs = logs.concat([{ level: "warn", text: dropped + " more console line(s) dropped" }]);
    }
    let text;
    try {
      text = stringify(record);
    } catch (e) {
      // the value cannot become JSON (BigInt, cycles): report it as the script's error
      return finish({ status: "error", error: describe(new TypeError("the result is not JSON: " + describe(e).message)) });
    }
    if (text.length > RESULT_MAX_CHARS) {
      return stringify({
        status: "error",
        error: describe(new RangeError("the result is larger than " + RESULT_MAX_CHARS + " characters of JSON")),
        logs: record.logs.slice(0, 10),
      });
    }
    return text;
  }

  function settleValue(value) {
    // undefined (and functions, symbols) become null on the way out: "nothing"
    return finish({ status: "ok", value: value === undefined ? null : value });
  }

  function settleError(error) {
    return finish({ status: "error", error: describe(error) });
  }

  Object.defineProperty(g, "__hookhub_instantiate", {
    value: function () {
      // `Script` is the user's top-level class: a global lexical binding, resolved at call time
      instance = new Script(); // eslint-disable-line no-undef
      return "ready";
    },
  });

  Object.defineProperty(g, "__hookhub_call", {
    value: function (method, argumentJson) {
      logs = [];
      dropped = 0;
      pending = null;
      // what an earlier call left outstanding was cancelled by the host: it never settles
      outbox = [];
      waiting = new Map();
      hostOperations = 0;
      active = true;
      const fn = instance ? instance[method] : undefined;
      if (typeof fn !== "function") {
        active = false;
        return finish({ status: "missing" });
      }
      let result;
      try {
        result = fn.call(instance, parse(argumentJson));
      } catch (e) {
        active = false;
        return settleError(e);
      }
      if (result !== null && (typeof result === "object" || typeof result === "function") && typeof result.then === "function") {
        const slot = { text: null };
        pending = slot;
        Promise.resolve(result).then(
          function (value) {
            slot.text = settleValue(value);
          },
          function (error) {
            slot.text = settleError(error);
          }
        );
        return '{"status":"pending"}';
      }
      active = false;
      return settleValue(result);
    },
  });

  Object.defineProperty(g, "__hookhub_poll", {
    value: function () {
      if (pending === null) return finish({ status: "error", error: describe(new Error("no call in progress")) });
      if (pending.text !== null) {
        const text = pending.text;
        pending = null;
        active = false;
        return text;
      }
      if (outbox.length > 0) {
        const requests = outbox;
        outbox = [];
        return stringify({ status: "pending", requests: requests });
      }
      if (hostOperations > 0) return '{"status":"pending"}';
      // With no host operation outstanding nothing can settle the promise any more.
      active = false;
      return '{"status":"stuck"}';
    },
  });
})();
