// DOM building for the admin pages: the page's CSP allows no inline script, style or handler
// attribute, so every element is made here; text always goes in as text, never as markup.
"use strict";
(function () {
  const Hookhub = (window.Hookhub = window.Hookhub || {});

  // el("p", {class: "x", text: "hello", hidden: true, onclick: fn}, child, [more, children])
  // Attributes: `text` sets the text, `class` the class, `on<event>` adds a listener, a
  // non-string value of a DOM property sets the property, anything else is an attribute.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  Hookhub.dom = { el };
})();
