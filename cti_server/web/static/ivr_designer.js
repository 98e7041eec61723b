/* OpenCC IVR flow designer (R-IVR-5): the flow document drawn as an SVG graph.
 * Vanilla JS, no framework, no inline handlers (the pages' CSP is default-src 'self').
 * The document edited here is the same JSON shared/ivr validates; node positions are a
 * view matter and stay in the browser (localStorage), never in the document. */
(function () {
  "use strict";

  var boot = JSON.parse(document.getElementById("ivr-boot").textContent);
  var M = boot.messages;
  var SVG = "http://www.w3.org/2000/svg";
  var NODE_W = 180, NODE_H = 56, GAP_X = 40, GAP_Y = 70;

  var doc = boot.document;
  var baseVersion = boot.loaded.latest_version;
  var savedVersion = boot.loaded.version;
  var dirty = false;
  var selected = null;
  var problems = [];
  var sim = null;
  var layoutKey = "opencc.ivr.layout." + boot.flow_id;
  var pos = {};
  try { pos = JSON.parse(window.localStorage.getItem(layoutKey) || "{}") || {}; } catch (e) { pos = {}; }

  var canvas = document.getElementById("ivr-canvas");
  var form = document.getElementById("ivr-form");
  var statusEl = document.getElementById("ivr-status");
  var problemList = document.getElementById("ivr-problems");
  var jsonBox = document.getElementById("ivr-json");

  function t(key, params) {
    var text = M[key] || key;
    Object.keys(params || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(params[k])); });
    return text;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = kind || "muted";
  }

  // --- the node kinds: new-node templates, exits (mirror shared/ivr/graph.py), form fields

  var TEMPLATES = {
    prompt: function () { return { kind: "prompt", prompts: ["welcome"] }; },
    menu: function () { return { kind: "menu", prompts: ["main_menu"], options: [{ digit: "1", next: "" }], invalid_prompts: ["invalid_choice"], timeout_prompts: ["no_input"] }; },
    collect: function () { return { kind: "collect", prompts: ["enter_account"], variable: "account" }; },
    branch: function () { return { kind: "branch", cases: [{ when: [{ kind: "tier", tiers: ["gold"] }], next: "", label: "gold" }] }; },
    set: function () { return { kind: "set", business_selection: "billing" }; },
    lookup: function () { return { kind: "lookup", service: "account_balance", args: {}, results: {} }; },
    say: function () { return { kind: "say", variable: "balance", format: "amount" }; },
    queue: function () { return { kind: "queue", queue: (boot.choices.queues || [])[0] || "q_billing", prompts: ["please_hold"] }; },
    transfer: function () { return { kind: "transfer", target: { number: "10000" } }; },
    survey: function () { return { kind: "survey", questions: [{ id: "q1", prompts: ["survey_satisfaction"], digits: "12345" }] }; },
    voicemail: function () { return { kind: "voicemail", mailbox: "general", prompts: ["leave_message", "beep"] }; },
    callback: function () { return { kind: "callback", prompts: ["callback_confirm"] }; },
    hangup: function () { return { kind: "hangup", prompts: ["goodbye"] }; }
  };

  function simpleExit(node, field) {
    return {
      field: field, label: field, target: node[field] || "",
      set: function (v) { if (v) { node[field] = v; } else { delete node[field]; } }
    };
  }

  function exits(node) {
    var list = [];
    if (node.kind === "menu") {
      (node.options || []).forEach(function (o, i) {
        list.push({ field: "options[" + i + "].next", label: o.digit + (o.label ? " " + o.label : ""), target: o.next || "", set: function (v) { o.next = v || ""; } });
      });
      list.push(simpleExit(node, "on_fail"));
    } else if (node.kind === "branch") {
      (node.cases || []).forEach(function (c, i) {
        list.push({ field: "cases[" + i + "].next", label: c.label || ("case " + (i + 1)), target: c.next || "", set: function (v) { c.next = v || ""; } });
      });
      list.push(simpleExit(node, "default"));
    } else if (node.kind === "collect") {
      list.push(simpleExit(node, "next"), simpleExit(node, "on_fail"));
    } else if (node.kind === "lookup" || node.kind === "say") {
      list.push(simpleExit(node, "next"), simpleExit(node, "on_error"));
    } else if (["prompt", "set", "survey", "callback"].indexOf(node.kind) >= 0) {
      list.push(simpleExit(node, "next"));
    }
    return list;
  }

  var COMMON = [{ name: "label", type: "text" }];
  var FIELDS = {
    prompt: [{ name: "prompts", type: "prompts" }, { name: "next", type: "target" }, { name: "barge_in", type: "bool" }],
    menu: [{ name: "prompts", type: "prompts" }, { name: "options", type: "options" }, { name: "on_fail", type: "target" },
      { name: "timeout", type: "number", def: "5" }, { name: "retries", type: "number", def: "2" }, { name: "invalid_prompts", type: "prompts" },
      { name: "timeout_prompts", type: "prompts" }, { name: "barge_in", type: "bool", def: true }],
    collect: [{ name: "prompts", type: "prompts" }, { name: "variable", type: "text", required: true }, { name: "next", type: "target" },
      { name: "on_fail", type: "target" }, { name: "min_length", type: "number", def: "1" }, { name: "max_length", type: "number", def: "20" },
      { name: "terminator", type: "text", nullable: true }, { name: "timeout", type: "number", def: "5" }, { name: "inter_digit_timeout", type: "number", def: "3" },
      { name: "retries", type: "number", def: "2" }, { name: "pattern", type: "text" }, { name: "invalid_prompts", type: "prompts" },
      { name: "timeout_prompts", type: "prompts" }, { name: "mask", type: "bool" }, { name: "barge_in", type: "bool", def: true }],
    branch: [{ name: "cases", type: "cases" }, { name: "default", type: "target" }],
    set: [{ name: "business_selection", type: "text" }, { name: "variables", type: "json" },
      { name: "language", type: "select", options: ["", "zh", "en"] }, { name: "next", type: "target" }],
    lookup: [{ name: "service", type: "text", required: true }, { name: "args", type: "json" }, { name: "results", type: "json" },
      { name: "timeout", type: "number", def: "5" }, { name: "next", type: "target" }, { name: "on_error", type: "target" }],
    say: [{ name: "variable", type: "text", required: true }, { name: "format", type: "select", options: ["number", "amount", "digits"] },
      { name: "prefix", type: "prompts" }, { name: "suffix", type: "prompts" }, { name: "next", type: "target" },
      { name: "on_error", type: "target" }, { name: "barge_in", type: "bool" }],
    queue: [{ name: "queue", type: "text", list: "queues" }, { name: "skill", type: "text", list: "skills" },
      { name: "business_selection", type: "text" }, { name: "priority", type: "number" }, { name: "prompts", type: "prompts" }],
    transfer: [{ name: "target", type: "json", required: true }, { name: "business_selection", type: "text" }, { name: "prompts", type: "prompts" }],
    survey: [{ name: "questions", type: "json", required: true }, { name: "next", type: "target" }, { name: "timeout", type: "number", def: "5" },
      { name: "retries", type: "number", def: "1" }, { name: "invalid_prompts", type: "prompts" }],
    voicemail: [{ name: "mailbox", type: "text", required: true }, { name: "prompts", type: "prompts" },
      { name: "max_seconds", type: "number", def: "120" }, { name: "business_selection", type: "text" }],
    callback: [{ name: "queue", type: "text", list: "queues" }, { name: "business_selection", type: "text" },
      { name: "number_variable", type: "text" }, { name: "prompts", type: "prompts" }, { name: "next", type: "target" }],
    hangup: [{ name: "prompts", type: "prompts" }, { name: "reason", type: "text" }]
  };
  var FLOW_FIELDS = [{ name: "description", type: "text" }, { name: "language", type: "select", options: ["zh", "en"] },
    { name: "entry", type: "target", required: true }, { name: "variables", type: "json" },
    { name: "skip_menu", type: "json" }, { name: "bar_blacklisted", type: "json" }];

  // --- document changes --------------------------------------------------------------

  var validateTimer = null;

  function changed(keepForm) {
    dirty = true;
    sim = null;
    setStatus(t("ivr_js_unsaved"), "warn");
    render(keepForm === true);
    window.clearTimeout(validateTimer);
    canvas.setAttribute("data-busy", "1");
    validateTimer = window.setTimeout(validate, 400);
  }

  function saveLayout() {
    try { window.localStorage.setItem(layoutKey, JSON.stringify(pos)); } catch (e) { /* private mode */ }
  }

  function nodeIds() { return Object.keys(doc.nodes || {}); }

  function newId(kind) {
    var n = 1;
    while ((doc.nodes || {})[kind + "_" + n]) { n += 1; }
    return kind + "_" + n;
  }

  function addNode(kind) {
    doc.nodes = doc.nodes || {};
    var id = newId(kind);
    doc.nodes[id] = TEMPLATES[kind]();
    var bottom = 20;
    nodeIds().forEach(function (k) { if (pos[k]) { bottom = Math.max(bottom, pos[k].y + NODE_H + GAP_Y); } });
    pos[id] = { x: 20 + (canvas.parentNode.scrollLeft || 0), y: bottom };
    if (!doc.entry || !doc.nodes[doc.entry]) { doc.entry = id; }
    selected = id;
    saveLayout();
    changed();
  }

  function forEachReference(fn) {
    nodeIds().forEach(function (id) {
      exits(doc.nodes[id]).forEach(function (exit) { fn(exit); });
    });
  }

  function deleteNode(id) {
    if (!doc.nodes[id]) { return; }
    delete doc.nodes[id];
    forEachReference(function (exit) { if (exit.target === id) { exit.set(""); } });
    if (doc.entry === id) { doc.entry = nodeIds()[0] || ""; }
    if (doc.skip_menu && doc.skip_menu.target === id) { delete doc.skip_menu; }
    delete pos[id];
    selected = null;
    saveLayout();
    changed();
  }

  function renameNode(oldId, newIdText) {
    var id = newIdText.trim();
    if (id === oldId) { return true; }
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(id) || doc.nodes[id]) { return false; }
    var nodes = {};
    nodeIds().forEach(function (k) { nodes[k === oldId ? id : k] = doc.nodes[k]; });
    doc.nodes = nodes;
    forEachReference(function (exit) { if (exit.target === oldId) { exit.set(id); } });
    if (doc.entry === oldId) { doc.entry = id; }
    if (doc.skip_menu && doc.skip_menu.target === oldId) { doc.skip_menu.target = id; }
    pos[id] = pos[oldId];
    delete pos[oldId];
    selected = id;
    saveLayout();
    changed();
    return true;
  }

  // --- layout -------------------------------------------------------------------------

  function autoLayout() {
    var ids = nodeIds();
    var missing = ids.filter(function (id) { return !pos[id]; });
    if (!missing.length) { return; }
    var depth = {};
    var queue = [];
    if (doc.entry && doc.nodes[doc.entry]) { depth[doc.entry] = 0; queue.push(doc.entry); }
    while (queue.length) {
      var id = queue.shift();
      exits(doc.nodes[id]).forEach(function (exit) {
        if (exit.target && doc.nodes[exit.target] && depth[exit.target] === undefined) {
          depth[exit.target] = depth[id] + 1;
          queue.push(exit.target);
        }
      });
    }
    var maxDepth = 0;
    ids.forEach(function (id) { if (depth[id] !== undefined) { maxDepth = Math.max(maxDepth, depth[id]); } });
    var rows = {};
    ids.forEach(function (id) {
      var d = depth[id] === undefined ? maxDepth + 1 : depth[id];
      (rows[d] = rows[d] || []).push(id);
    });
    Object.keys(rows).forEach(function (d) {
      rows[d].forEach(function (id, i) {
        if (!pos[id]) { pos[id] = { x: 20 + i * (NODE_W + GAP_X), y: 20 + Number(d) * (NODE_H + GAP_Y) }; }
      });
    });
  }

  // --- drawing ------------------------------------------------------------------------

  function problemsOf(id) { return problems.filter(function (p) { return p.node === id; }); }

  function portXY(id, index, count) {
    var p = pos[id];
    return { x: p.x + (NODE_W * (index + 1)) / (count + 1), y: p.y + NODE_H };
  }

  function edgePath(a, b) {
    var dy = Math.max(30, Math.abs(b.y - a.y) / 2);
    return "M" + a.x + "," + a.y + " C" + a.x + "," + (a.y + dy) + " " + b.x + "," + (b.y - dy) + " " + b.x + "," + b.y;
  }

  function render(keepForm) {
    autoLayout();
    while (canvas.firstChild) { canvas.removeChild(canvas.firstChild); }
    var defs = svg("defs");
    var marker = svg("marker", { id: "ivr-arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "9", markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.appendChild(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", "class": "ivr-arrowhead" }));
    defs.appendChild(marker);
    canvas.appendChild(defs);
    var width = 600, height = 400;
    var ids = nodeIds();
    ids.forEach(function (id) {
      width = Math.max(width, pos[id].x + NODE_W + 60);
      height = Math.max(height, pos[id].y + NODE_H + 80);
    });
    canvas.setAttribute("width", String(width));
    canvas.setAttribute("height", String(height));
    var edgeLayer = svg("g", { "class": "ivr-edges" });
    var nodeLayer = svg("g", { "class": "ivr-nodes" });
    canvas.appendChild(edgeLayer);
    canvas.appendChild(nodeLayer);
    var simNodes = sim ? sim.nodes : {};
    var simEdges = sim ? sim.edges : {};
    ids.forEach(function (id) {
      var node = doc.nodes[id];
      var list = exits(node);
      list.forEach(function (exit, i) {
        if (!exit.target || !doc.nodes[exit.target]) { return; }
        var a = portXY(id, i, list.length);
        var tp = pos[exit.target];
        var b = { x: tp.x + NODE_W / 2, y: tp.y };
        var cls = "ivr-edge" + (simEdges[id + ">" + exit.target] ? " sim" : "");
        var path = svg("path", { d: edgePath(a, b), "class": cls, "marker-end": "url(#ivr-arrow)", "data-from": id, "data-to": exit.target, "data-field": exit.field });
        edgeLayer.appendChild(path);
        edgeLayer.appendChild(svg("text", { x: String(a.x + 4), y: String(a.y + 14), "class": "ivr-edge-label" }, exit.label));
      });
    });
    ids.forEach(function (id) {
      var node = doc.nodes[id];
      var found = problemsOf(id);
      var errors = found.filter(function (p) { return p.severity === "error"; });
      var cls = "ivr-node kind-" + node.kind;
      if (id === selected) { cls += " selected"; }
      if (id === doc.entry) { cls += " entry"; }
      if (errors.length) { cls += " has-error"; } else if (found.length) { cls += " has-warning"; }
      if (simNodes[id]) { cls += " sim"; }
      var g = svg("g", { "class": cls, "data-node": id, transform: "translate(" + pos[id].x + "," + pos[id].y + ")" });
      g.appendChild(svg("rect", { width: String(NODE_W), height: String(NODE_H), rx: "6", "class": "ivr-box" }));
      g.appendChild(svg("text", { x: "8", y: "19", "class": "ivr-id" }, (id === doc.entry ? "▶ " : "") + id));
      g.appendChild(svg("text", { x: "8", y: "38", "class": "ivr-kind" }, node.kind + (node.label ? " · " + node.label : "")));
      if (found.length) {
        var badge = svg("g", { "class": "ivr-badge", transform: "translate(" + (NODE_W - 12) + ",0)" });
        badge.appendChild(svg("circle", { r: "10", cx: "0", cy: "0" }));
        badge.appendChild(svg("text", { x: "0", y: "4", "text-anchor": "middle" }, String(found.length)));
        badge.appendChild(svg("title", {}, found.map(function (p) { return p.field + ": " + p.message; }).join("\n")));
        g.appendChild(badge);
      }
      var list = exits(node);
      list.forEach(function (exit, i) {
        var x = (NODE_W * (i + 1)) / (list.length + 1);
        var port = svg("circle", { cx: String(x), cy: String(NODE_H), r: "6", "class": "ivr-port" + (exit.target ? "" : " unwired"), "data-exit": String(i), "data-field": exit.field });
        port.appendChild(svg("title", {}, exit.label));
        g.appendChild(port);
      });
      nodeLayer.appendChild(g);
    });
    if (!(keepForm && form.contains(document.activeElement))) { renderForm(); }
    renderProblems();
    if (document.activeElement !== jsonBox) { jsonBox.value = JSON.stringify(doc, null, 2); }
  }

  // --- canvas interaction: select, move, wire ------------------------------------------

  var drag = null;

  function point(event) {
    var box = canvas.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }

  function nodeAt(event) {
    var target = document.elementFromPoint(event.clientX, event.clientY);
    var g = target && target.closest ? target.closest(".ivr-node") : null;
    return g ? g.getAttribute("data-node") : null;
  }

  canvas.addEventListener("mousedown", function (event) {
    var target = event.target;
    var g = target.closest ? target.closest(".ivr-node") : null;
    if (!g) {
      selected = null;
      render();
      return;
    }
    var id = g.getAttribute("data-node");
    var p = point(event);
    event.preventDefault();
    if (target.classList.contains("ivr-port")) {
      var line = svg("path", { "class": "ivr-wire" });
      canvas.appendChild(line);
      drag = { mode: "wire", id: id, exit: Number(target.getAttribute("data-exit")), start: { x: Number(target.getAttribute("cx")) + pos[id].x, y: NODE_H + pos[id].y }, line: line };
    } else {
      drag = { mode: "move", id: id, dx: p.x - pos[id].x, dy: p.y - pos[id].y, moved: false };
      if (selected !== id) { selected = id; render(); }
    }
  });

  window.addEventListener("mousemove", function (event) {
    if (!drag) { return; }
    var p = point(event);
    if (drag.mode === "move") {
      pos[drag.id] = { x: Math.max(0, Math.round(p.x - drag.dx)), y: Math.max(0, Math.round(p.y - drag.dy)) };
      drag.moved = true;
      var g = canvas.querySelector('.ivr-node[data-node="' + CSS.escape(drag.id) + '"]');
      if (g) { g.setAttribute("transform", "translate(" + pos[drag.id].x + "," + pos[drag.id].y + ")"); }
    } else {
      drag.line.setAttribute("d", edgePath(drag.start, p));
    }
  });

  window.addEventListener("mouseup", function (event) {
    if (!drag) { return; }
    var done = drag;
    drag = null;
    if (done.mode === "move") {
      if (done.moved) { saveLayout(); render(); }
      return;
    }
    if (done.line.parentNode) { done.line.parentNode.removeChild(done.line); }
    var target = nodeAt(event);
    if (target && doc.nodes[done.id]) {
      var exit = exits(doc.nodes[done.id])[done.exit];
      if (exit) { exit.set(target); selected = done.id; changed(); }
    }
  });

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") { return; }
    if (event.key === "Delete" && selected) {
      event.preventDefault();
      deleteNode(selected);
    }
  });

  // --- the side form ------------------------------------------------------------------

  function listText(value) { return (value || []).join(", "); }
  function parseList(text) { return text.split(/[\s,，]+/).filter(function (s) { return s; }); }

  function targetSelect(value, onPick, name) {
    var select = el("select", { name: name, "class": "ivr-target" });
    select.appendChild(el("option", { value: "" }, t("ivr_js_none")));
    nodeIds().forEach(function (id) {
      var opt = el("option", { value: id }, id);
      if (id === value) { opt.selected = true; }
      select.appendChild(opt);
    });
    if (value && !doc.nodes[value]) {
      var missing = el("option", { value: value }, value + " (?)");
      missing.selected = true;
      select.appendChild(missing);
    }
    select.addEventListener("change", function () { onPick(select.value); });
    return select;
  }

  function row(labelText, control, fieldName) {
    var wrap = el("label", { "class": "ivr-field", "data-field": fieldName || labelText });
    wrap.appendChild(el("span", { "class": "label" }, labelText));
    wrap.appendChild(control);
    return wrap;
  }

  function jsonField(obj, spec) {
    var area = el("textarea", { name: spec.name, rows: "3", spellcheck: "false" });
    area.value = obj[spec.name] === undefined ? "" : JSON.stringify(obj[spec.name]);
    var note = el("span", { "class": "error" });
    area.addEventListener("change", function () {
      var text = area.value.trim();
      if (!text) { delete obj[spec.name]; note.textContent = ""; changed(); return; }
      try {
        obj[spec.name] = JSON.parse(text);
        note.textContent = "";
        changed(true);
      } catch (e) {
        note.textContent = t("ivr_js_bad_json", { error: e.message });
      }
    });
    var box = el("div");
    box.appendChild(area);
    box.appendChild(note);
    return box;
  }

  function fieldControl(obj, spec) {
    var name = spec.name;
    var value = obj[name];
    if (spec.type === "target") {
      return targetSelect(value || "", function (v) { if (v) { obj[name] = v; } else if (spec.required) { obj[name] = ""; } else { delete obj[name]; } changed(); }, name);
    }
    if (spec.type === "bool") {
      var box = el("input", { type: "checkbox", name: name });
      box.checked = value === undefined ? !!spec.def : !!value;
      box.addEventListener("change", function () { obj[name] = box.checked; changed(true); });
      return box;
    }
    if (spec.type === "select") {
      var select = el("select", { name: name });
      spec.options.forEach(function (o) {
        var opt = el("option", { value: o }, o || t("ivr_js_none"));
        if ((value || "") === o) { opt.selected = true; }
        select.appendChild(opt);
      });
      select.addEventListener("change", function () { if (select.value) { obj[name] = select.value; } else { delete obj[name]; } changed(); });
      return select;
    }
    if (spec.type === "json") { return jsonField(obj, spec); }
    if (spec.type === "options") { return optionsEditor(obj); }
    if (spec.type === "cases") { return casesEditor(obj); }
    var input = el("input", { name: name });
    if (spec.def) { input.setAttribute("placeholder", spec.def); }
    if (spec.list) { input.setAttribute("list", "ivr-list-" + spec.list); }
    if (spec.type === "prompts") {
      input.setAttribute("list", "ivr-list-prompts");
      input.value = listText(value);
    } else if (value === null && spec.nullable) {
      input.value = "";
    } else {
      input.value = value === undefined || value === null ? "" : String(value);
    }
    input.addEventListener("change", function () {
      var text = input.value.trim();
      if (spec.type === "prompts") {
        var list = parseList(text);
        if (list.length || name === "prompts") { obj[name] = list; } else { delete obj[name]; }
      } else if (spec.type === "number") {
        if (text === "") { delete obj[name]; } else { obj[name] = Number(text); }
      } else if (text === "") {
        if (spec.required) { obj[name] = ""; } else if (spec.nullable) { obj[name] = null; } else { delete obj[name]; }
      } else {
        obj[name] = text;
      }
      changed(true);
    });
    return input;
  }

  function optionsEditor(node) {
    var box = el("div", { "class": "ivr-rows ivr-options" });
    (node.options || []).forEach(function (option, i) {
      var line = el("div", { "class": "ivr-row", "data-index": String(i) });
      var digit = el("input", { name: "digit", size: "2", maxlength: "1", "aria-label": "digit" });
      digit.value = option.digit;
      digit.addEventListener("change", function () { option.digit = digit.value.trim(); changed(true); });
      var label = el("input", { name: "option_label", size: "10", "aria-label": "label" });
      label.value = option.label || "";
      label.addEventListener("change", function () { if (label.value.trim()) { option.label = label.value.trim(); } else { delete option.label; } changed(true); });
      var remove = el("button", { type: "button", "class": "link" }, t("ivr_js_remove"));
      remove.addEventListener("click", function () { node.options.splice(i, 1); changed(); });
      line.appendChild(digit);
      line.appendChild(targetSelect(option.next, function (v) { option.next = v; changed(); }, "option_next"));
      line.appendChild(label);
      line.appendChild(remove);
      box.appendChild(line);
    });
    var add = el("button", { type: "button", "class": "ivr-add-option" }, t("ivr_js_add_option"));
    add.addEventListener("click", function () {
      var used = (node.options || []).map(function (o) { return o.digit; });
      var digit = "1234567890*#".split("").filter(function (d) { return used.indexOf(d) < 0; })[0] || "";
      node.options = node.options || [];
      node.options.push({ digit: digit, next: "" });
      changed();
    });
    box.appendChild(add);
    return box;
  }

  function casesEditor(node) {
    var box = el("div", { "class": "ivr-rows ivr-cases" });
    (node.cases || []).forEach(function (c, i) {
      var line = el("div", { "class": "ivr-row ivr-case", "data-index": String(i) });
      var when = el("textarea", { name: "when", rows: "2", spellcheck: "false", "aria-label": "when" });
      when.value = JSON.stringify(c.when || []);
      var note = el("span", { "class": "error" });
      when.addEventListener("change", function () {
        try { c.when = JSON.parse(when.value); note.textContent = ""; changed(); } catch (e) { note.textContent = t("ivr_js_bad_json", { error: e.message }); }
      });
      var label = el("input", { name: "case_label", size: "10", "aria-label": "label" });
      label.value = c.label || "";
      label.addEventListener("change", function () { if (label.value.trim()) { c.label = label.value.trim(); } else { delete c.label; } changed(); });
      var remove = el("button", { type: "button", "class": "link" }, t("ivr_js_remove"));
      remove.addEventListener("click", function () { node.cases.splice(i, 1); changed(); });
      line.appendChild(label);
      line.appendChild(targetSelect(c.next, function (v) { c.next = v; changed(); }, "case_next"));
      line.appendChild(remove);
      line.appendChild(when);
      line.appendChild(note);
      box.appendChild(line);
    });
    var add = el("button", { type: "button" }, t("ivr_js_add_case"));
    add.addEventListener("click", function () {
      node.cases = node.cases || [];
      node.cases.push({ when: [{ kind: "tier", tiers: [(boot.choices.tiers || ["gold"])[0]] }], next: "" });
      changed();
    });
    box.appendChild(add);
    return box;
  }

  function renderForm() {
    while (form.firstChild) { form.removeChild(form.firstChild); }
    ["prompts", "queues", "skills"].forEach(function (key) {
      var list = el("datalist", { id: "ivr-list-" + key });
      (key === "prompts" ? boot.prompts : boot.choices[key] || []).forEach(function (v) { list.appendChild(el("option", { value: v })); });
      form.appendChild(list);
    });
    if (!selected || !doc.nodes[selected]) {
      form.setAttribute("data-node", "");
      form.appendChild(el("h2", {}, t("ivr_flow_settings")));
      FLOW_FIELDS.forEach(function (spec) { form.appendChild(row(spec.name, fieldControl(doc, spec), spec.name)); });
      return;
    }
    var id = selected;
    var node = doc.nodes[id];
    form.setAttribute("data-node", id);
    form.appendChild(el("h2", {}, t("ivr_node") + ": " + node.kind));
    var idInput = el("input", { name: "node_id", value: id });
    var idNote = el("span", { "class": "error" });
    idInput.addEventListener("change", function () {
      if (!renameNode(id, idInput.value)) { idNote.textContent = t("ivr_js_bad_id"); }
    });
    var idBox = el("div");
    idBox.appendChild(idInput);
    idBox.appendChild(idNote);
    form.appendChild(row(t("ivr_js_id"), idBox, "node_id"));
    COMMON.concat(FIELDS[node.kind] || []).forEach(function (spec) {
      form.appendChild(row(spec.name, fieldControl(node, spec), spec.name));
    });
    var found = problemsOf(id);
    if (found.length) {
      var ul = el("ul", { "class": "ivr-node-problems" });
      found.forEach(function (p) { ul.appendChild(el("li", { "class": "sev-" + p.severity }, p.field + ": " + p.message)); });
      form.appendChild(ul);
    }
    var actions = el("div", { "class": "ivr-node-actions" });
    if (doc.entry !== id) {
      var entry = el("button", { type: "button", id: "ivr-make-entry" }, t("ivr_js_make_entry"));
      entry.addEventListener("click", function () { doc.entry = id; changed(); });
      actions.appendChild(entry);
    }
    var del = el("button", { type: "button", id: "ivr-delete", "class": "danger" }, t("ivr_js_delete"));
    del.addEventListener("click", function () { deleteNode(id); });
    actions.appendChild(del);
    form.appendChild(actions);
  }

  function renderProblems() {
    while (problemList.firstChild) { problemList.removeChild(problemList.firstChild); }
    problems.forEach(function (p) {
      var li = el("li", { "class": "sev-" + p.severity, "data-node": p.node || "", "data-code": p.code });
      li.appendChild(el("code", {}, (p.node ? p.node + "." : "") + p.field));
      li.appendChild(document.createTextNode(" " + p.message));
      li.addEventListener("click", function () { if (p.node && doc.nodes[p.node]) { selected = p.node; render(); } });
      problemList.appendChild(li);
    });
  }

  // --- server calls -------------------------------------------------------------------

  function call(method, path, body) {
    return window.fetch(boot.api + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": boot.csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    });
  }

  function failed(error) { canvas.removeAttribute("data-busy"); setStatus(t("ivr_js_failed", { error: String(error) }), "error"); }

  function showProblems(list) {
    problems = list || [];
    var errors = problems.filter(function (p) { return p.severity === "error"; }).length;
    render(true);
    return errors;
  }

  function validate() {
    window.clearTimeout(validateTimer);
    canvas.setAttribute("data-busy", "1");
    var sent = JSON.stringify(doc);
    return call("POST", "/validate", { document: doc }).then(function (res) {
      if (JSON.stringify(doc) === sent && !drag) { canvas.removeAttribute("data-busy"); }
      var errors = showProblems(res.data.problems);
      if (!res.data.ok) { setStatus(res.data.message, "error"); return false; }
      var text = errors ? t("ivr_js_errors", { n: errors, w: problems.length - errors }) : t("ivr_js_valid");
      if (dirty) { text += " · " + t("ivr_js_unsaved"); }
      setStatus(text, errors ? "error" : "ok");
      canvas.setAttribute("data-validated", errors ? "errors" : "valid");
      return !errors;
    }).catch(failed);
  }

  function save() {
    window.clearTimeout(validateTimer);
    return call("POST", "/versions", { document: doc, base_version: baseVersion, name: doc.description || "" }).then(function (res) {
      if (res.status !== 201) {
        if (res.data.problems) { showProblems(res.data.problems); }
        setStatus(res.data.message, "error");
        return;
      }
      baseVersion = res.data.version;
      savedVersion = res.data.version;
      doc.version = res.data.version;
      dirty = false;
      document.getElementById("ivr-latest").textContent = String(res.data.version);
      document.getElementById("ivr-editing").textContent = "";
      showProblems(res.data.problems);
      setStatus(res.data.message, res.data.valid ? "ok" : "warn");
      canvas.setAttribute("data-saved", String(res.data.version));
    }).catch(failed);
  }

  function publish() {
    if (dirty) { setStatus(t("ivr_js_save_first"), "error"); return; }
    call("POST", "/publish", { version: savedVersion }).then(function (res) {
      if (res.status !== 200) {
        if (res.data.problems) { showProblems(res.data.problems); }
        setStatus(res.data.message, "error");
        return;
      }
      document.getElementById("ivr-published").textContent = String(res.data.version);
      setStatus(res.data.message, "ok");
      canvas.setAttribute("data-published", String(res.data.version));
    }).catch(failed);
  }

  function simulate(event) {
    event.preventDefault();
    var body = {
      document: doc,
      caller: document.getElementById("ivr-sim-caller").value,
      digits: document.getElementById("ivr-sim-digits").value,
      tier: document.getElementById("ivr-sim-tier").value
    };
    call("POST", "/simulate", body).then(function (res) {
      var out = document.getElementById("ivr-sim-result");
      while (out.firstChild) { out.removeChild(out.firstChild); }
      if (!res.data.ok) {
        if (res.data.problems) { showProblems(res.data.problems); }
        out.appendChild(el("p", { "class": "error" }, res.data.message));
        return;
      }
      var r = res.data;
      sim = { nodes: {}, edges: {} };
      r.path.forEach(function (id) { sim.nodes[id] = true; });
      r.edges.forEach(function (e) { sim.edges[e[0] + ">" + e[1]] = true; });
      var dl = el("dl", { "class": "summary" });
      function item(k, v) { dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, v)); }
      item(t("ivr_js_tier"), r.caller.tier || t("ivr_js_none"));
      item(t("ivr_js_customer"), r.caller.customer_id ? r.caller.customer_id + " " + (r.caller.customer_name || "") : t("ivr_js_none"));
      item(t("ivr_js_branches"), r.branches.join(" · ") || t("ivr_js_none"));
      var outcome = r.outcome ? r.outcome.action + " " + (r.outcome.queue_id || r.outcome.reason || r.outcome.number || r.outcome.agent_id || r.outcome.mailbox || "") : t("ivr_js_none");
      item(t("ivr_js_outcome"), outcome);
      dl.lastChild.setAttribute("id", "ivr-sim-outcome");
      out.appendChild(dl);
      out.appendChild(el("h3", {}, t("ivr_js_path")));
      var ol = el("ol", { "class": "ivr-sim-path", id: "ivr-sim-path" });
      r.path.forEach(function (id) { ol.appendChild(el("li", { "data-node": id }, id)); });
      out.appendChild(ol);
      var steps = el("ol", { "class": "trajectory ivr-sim-steps" });
      r.trajectory.forEach(function (s) {
        steps.appendChild(el("li", { "data-kind": s.kind }, s.kind + " " + (s.node || "") + (s.detail ? ": " + s.detail : "")));
      });
      out.appendChild(steps);
      if (r.unused_digits) { out.appendChild(el("p", { "class": "muted" }, t("ivr_js_unused", { keys: r.unused_digits }))); }
      render();
    }).catch(failed);
  }

  // --- wiring the page ----------------------------------------------------------------

  var kindSelect = document.getElementById("ivr-kind");
  boot.kinds.forEach(function (kind) {
    if (TEMPLATES[kind]) { kindSelect.appendChild(el("option", { value: kind }, kind)); }
  });
  document.getElementById("ivr-add").addEventListener("click", function () { addNode(kindSelect.value); });
  document.getElementById("ivr-arrange").addEventListener("click", function () {
    pos = {};
    autoLayout();
    saveLayout();
    render();
  });
  document.getElementById("ivr-validate").addEventListener("click", validate);
  document.getElementById("ivr-save").addEventListener("click", save);
  document.getElementById("ivr-publish").addEventListener("click", publish);
  document.getElementById("ivr-sim-form").addEventListener("submit", simulate);
  document.getElementById("ivr-apply-json").addEventListener("click", function () {
    try {
      var parsed = JSON.parse(jsonBox.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) { throw new Error("object expected"); }
      doc = parsed;
      doc.nodes = doc.nodes || {};
      selected = null;
      jsonBox.blur();
      changed();
    } catch (e) {
      setStatus(t("ivr_js_bad_json", { error: e.message }), "error");
    }
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  render();
  validate();
  canvas.setAttribute("data-ready", "1");
})();
