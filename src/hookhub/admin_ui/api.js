// The REST client of the admin pages: the public API, authenticated with the X-User-Id and
// X-Auth-Token headers of a REST login kept in sessionStorage (no cookie: CSRF-safe).
"use strict";
(function () {
  const Hookhub = (window.Hookhub = window.Hookhub || {});
  const KEY = "hookhub.session";

  class ApiError extends Error {
    // status: HTTP status (0 when the server could not be reached); body: the parsed JSON or null
    constructor(status, body, message) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.body = body;
    }
  }

  // What a person should read for a failed call: the server's own words where it gave some.
  function plainWords(status, body) {
    if (status === 0) return "The server could not be reached. Check your connection and try again.";
    const said = body && (body.error || body.message || body.reason);
    if (status === 401) return "Your session has ended. Please log in again.";
    if (status === 403) return said ? `Not allowed: ${said}` : "You are not allowed to do this.";
    if (status === 404) return said ? `Not found: ${said}` : "This item does not exist (any more).";
    if (status === 413) return "That is too large for the server to accept.";
    if (status === 429) return "Too many requests: wait a moment and try again.";
    if (status >= 500) return "The server failed to handle this request. Try again; if it keeps failing, check the server log.";
    return said ? String(said) : `The request failed (HTTP ${status}).`;
  }

  function session() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return stored && stored.userId && stored.authToken ? stored : null;
    } catch (_error) {
      return null;
    }
  }

  const listeners = [];

  function setSession(value) {
    if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
    else sessionStorage.removeItem(KEY);
    listeners.forEach((listener) => listener(session()));
  }

  async function call(method, path, { params, body, auth = true } = {}) {
    const url = new URL(path.startsWith("/") ? path : `/api/v1/${path}`, window.location.origin);
    if (params) {
      for (const [name, value] of Object.entries(params)) {
        if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
      }
    }
    const headers = { Accept: "application/json" };
    const current = session();
    if (auth && current) {
      headers["X-User-Id"] = current.userId;
      headers["X-Auth-Token"] = current.authToken;
    }
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (_error) {
      throw new ApiError(0, null, plainWords(0, null));
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_error) {
      data = null;
    }
    if (!response.ok || (data && data.success === false)) {
      if (response.status === 401 && auth) setSession(null);
      throw new ApiError(response.status, data, plainWords(response.status, data));
    }
    return data;
  }

  Hookhub.api = {
    ApiError,
    session,
    onSessionChange(listener) {
      listeners.push(listener);
    },
    get: (path, params) => call("GET", path, { params }),
    post: (path, body) => call("POST", path, { body: body || {} }),
    put: (path, body) => call("PUT", path, { body: body || {} }),
    // A call outside /api/v1 (e.g. a webhook URL path), unauthenticated.
    raw: (method, path, body) => call(method, path, { body, auth: false }),
    async login(user, password) {
      let data;
      try {
        data = await call("POST", "login", { body: { user, password }, auth: false });
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          throw new ApiError(401, error.body, "Wrong username or password.");
        }
        throw error;
      }
      const me = data.data.me || {};
      setSession({ userId: data.data.userId, authToken: data.data.authToken, username: me.username || user });
      return session();
    },
    async logout() {
      try {
        if (session()) await call("POST", "logout");
      } finally {
        setSession(null);
      }
    },
  };
})();
