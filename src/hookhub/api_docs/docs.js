// The API docs page: fetches /api/openapi.json and lists every operation by tag.
// No inline script or style (the page's CSP forbids them): DOM built with createElement.
"use strict";

(function () {
  var METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];
  var MAX_DEPTH = 6;
  var components = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function refName(ref) {
    return ref.split("/").pop();
  }

  function resolve(schema) {
    if (schema && schema.$ref && schema.$ref.indexOf("#/components/schemas/") === 0) {
      return components[refName(schema.$ref)] || {};
    }
    return schema || {};
  }

  function typeText(schema) {
    if (!schema) return "any";
    if (schema.$ref) return refName(schema.$ref);
    if (Object.prototype.hasOwnProperty.call(schema, "const")) return JSON.stringify(schema["const"]);
    if (schema["enum"]) return schema["enum"].map(function (v) { return JSON.stringify(v); }).join(" | ");
    var alternatives = schema.anyOf || schema.oneOf;
    if (alternatives) return alternatives.map(typeText).join(" | ");
    if (schema.type === "array") return "array of " + typeText(schema.items);
    if (Array.isArray(schema.type)) return schema.type.join(" | ");
    return schema.type || (schema.properties ? "object" : "any");
  }

  // A schema as a nested list of its properties (refs expanded up to MAX_DEPTH, no cycles).
  function schemaNode(schema, depth, seen) {
    var box = el("div", "schema");
    var type = el("code", "type", typeText(schema));
    box.appendChild(type);
    var target = resolve(schema);
    var ref = schema && schema.$ref ? schema.$ref : null;
    if (target.description && depth > 0) box.appendChild(el("span", "note", " — " + target.description));
    if (ref && seen.indexOf(ref) !== -1) return box;
    var nextSeen = ref ? seen.concat([ref]) : seen;
    if (depth >= MAX_DEPTH) return box;
    var alternatives = target.anyOf || target.oneOf;
    if (alternatives && ref) {
      box.appendChild(el("span", "note", " = " + alternatives.map(typeText).join(" | ")));
    }
    if (target.type === "array" && target.items && (target.items.$ref || target.items.properties)) {
      box.appendChild(schemaNode(target.items, depth + 1, nextSeen));
    }
    if (alternatives) {
      alternatives.forEach(function (alt) {
        if (alt.$ref || alt.properties) box.appendChild(schemaNode(alt, depth + 1, nextSeen));
      });
    }
    var properties = target.properties || {};
    var names = Object.keys(properties);
    if (names.length) {
      var required = target.required || [];
      var list = el("ul", "properties");
      names.forEach(function (name) {
        var item = el("li");
        item.appendChild(el("code", "name", name));
        if (required.indexOf(name) !== -1) item.appendChild(el("span", "required", "required"));
        item.appendChild(schemaNode(properties[name], depth + 1, nextSeen));
        list.appendChild(item);
      });
      box.appendChild(list);
    }
    if (target.additionalProperties === false) box.appendChild(el("span", "note", "no other properties"));
    return box;
  }

  function parametersNode(parameters) {
    var table = el("table", "parameters");
    var head = el("tr");
    ["Name", "In", "Required", "Type", "Description"].forEach(function (title) {
      head.appendChild(el("th", null, title));
    });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    parameters.forEach(function (p) {
      var row = el("tr");
      var name = el("td");
      name.appendChild(el("code", null, p.name));
      row.appendChild(name);
      row.appendChild(el("td", null, p["in"]));
      row.appendChild(el("td", null, p.required ? "yes" : "no"));
      var type = el("td");
      type.appendChild(el("code", null, typeText(p.schema)));
      row.appendChild(type);
      row.appendChild(el("td", null, p.description || ""));
      body.appendChild(row);
    });
    table.appendChild(body);
    return table;
  }

  function contentSchema(content) {
    var json = content && (content["application/json"] || content[Object.keys(content)[0]]);
    return json ? json.schema : null;
  }

  function operationNode(method, path, op) {
    var details = el("details", "operation method-" + method);
    details.id = op.operationId || method + path;
    var summary = el("summary");
    summary.appendChild(el("span", "method", method.toUpperCase()));
    summary.appendChild(el("code", "path", path));
    summary.appendChild(el("span", "summary", op.summary || ""));
    if (op.security && op.security.length && Object.keys(op.security[op.security.length - 1]).length) {
      summary.appendChild(el("span", "badge", "login"));
    }
    details.appendChild(summary);
    var body = el("div", "operation-body");
    if (op.description) body.appendChild(el("p", "description", op.description));
    if (op.parameters && op.parameters.length) {
      body.appendChild(el("h4", null, "Parameters"));
      body.appendChild(parametersNode(op.parameters));
    }
    if (op.requestBody) {
      body.appendChild(el("h4", null, "Request body" + (op.requestBody.required ? " (required)" : "")));
      body.appendChild(schemaNode(contentSchema(op.requestBody.content) || {}, 0, []));
    }
    body.appendChild(el("h4", null, "Responses"));
    var responses = el("ul", "responses");
    Object.keys(op.responses || {}).sort().forEach(function (status) {
      var response = op.responses[status];
      var item = el("li", "response status-" + status.charAt(0) + "xx");
      item.appendChild(el("span", "status", status));
      item.appendChild(el("span", "response-description", response.description || ""));
      var schema = contentSchema(response.content);
      if (schema) item.appendChild(schemaNode(schema, 0, []));
      responses.appendChild(item);
    });
    body.appendChild(responses);
    details.appendChild(body);
    details.setAttribute("data-search", (method + " " + path + " " + (op.summary || "") + " " +
      (op.tags || []).join(" ")).toLowerCase());
    return details;
  }

  function render(doc) {
    components = (doc.components && doc.components.schemas) || {};
    document.getElementById("version").textContent = doc.info && doc.info.version ? "v" + doc.info.version : "";
    var byTag = {};
    Object.keys(doc.paths || {}).sort().forEach(function (path) {
      METHODS.forEach(function (method) {
        var op = doc.paths[path][method];
        if (!op) return;
        var tag = (op.tags && op.tags[0]) || "other";
        (byTag[tag] = byTag[tag] || []).push(operationNode(method, path, op));
      });
    });
    var main = document.getElementById("main");
    main.textContent = "";
    var nav = el("nav", "tags");
    nav.setAttribute("aria-label", "Tags");
    var tags = Object.keys(byTag).sort();
    tags.forEach(function (tag) {
      var link = el("a", null, tag + " (" + byTag[tag].length + ")");
      link.href = "#tag-" + tag;
      nav.appendChild(link);
    });
    main.appendChild(nav);
    tags.forEach(function (tag) {
      var section = el("section", "tag");
      section.id = "tag-" + tag;
      section.appendChild(el("h2", null, tag));
      byTag[tag].forEach(function (node) { section.appendChild(node); });
      main.appendChild(section);
    });
  }

  function filter(text) {
    var needle = text.trim().toLowerCase();
    Array.prototype.forEach.call(document.querySelectorAll("details.operation"), function (node) {
      node.hidden = needle !== "" && node.getAttribute("data-search").indexOf(needle) === -1;
    });
    Array.prototype.forEach.call(document.querySelectorAll("section.tag"), function (section) {
      section.hidden = section.querySelectorAll("details.operation:not([hidden])").length === 0;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("filter").addEventListener("input", function (event) {
      filter(event.target.value);
    });
    fetch("/api/openapi.json", { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(render)
      .catch(function (error) {
        document.getElementById("status").textContent = "Could not load /api/openapi.json: " + error.message;
      });
  });
})();
