// The workflow builder: a graph editor on the vendored Drawflow 0.0.60 (MIT, from the npm
// registry; see drawflow.LICENSE.txt) with a keyboard panel, both editing one model that is
// written to the JSON textarea (what "Save" submits). Without JavaScript the JSON form and
// the table still work. Checks go to the server's publish validator (POST .../check).
(function () {
  "use strict";
  var section = document.getElementById("editor");
  var area = document.getElementById("definition");
  if (!section || !area || typeof Drawflow === "undefined") return;
  var readonly = section.getAttribute("data-readonly") === "true";
  var csrfInput = document.querySelector("input[name=csrf_token]");
  var csrf = csrfInput ? csrfInput.value : "";
  var TERMINAL = { review: true, end: true };
  var def;
  try { def = JSON.parse(area.value); } catch (e) { return; }
  if (!def.flow) return;
  section.hidden = false;

  var $ = function (id) { return document.getElementById(id); };
  var canvas = $("canvas");
  var editor = new Drawflow(canvas);
  editor.reroute = false;
  editor.editor_mode = readonly ? "view" : "edit";
  editor.start();
  var pos = {};          // node id -> {x, y}: where the node is drawn (not stored)
  var dfOf = {};         // node id -> Drawflow id
  var idOf = {};         // Drawflow id -> node id
  var drawing = false;   // our own drawing: Drawflow's events are not edits then
  var selected = null;   // the node shown in the panel
  var issues = [];
  var timer = null;

  function flow() { return def.flow; }
  function nodes() { return flow().nodes; }
  function ids() { return Object.keys(nodes()); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function option(select, value, label, chosen) {
    var o = el("option", { value: value }, label);
    if (value === chosen) o.selected = true;
    select.appendChild(o);
  }

  // -- the canvas -----------------------------------------------------------------------
  function layout() {
    var depth = {}, queue = [flow().start], rows = {};
    depth[flow().start] = 0;
    while (queue.length) {
      var n = queue.shift(), node = nodes()[n];
      if (!node) continue;
      (node.next || []).forEach(function (t) {
        if (depth[t.to] === undefined) { depth[t.to] = depth[n] + 1; queue.push(t.to); }
      });
    }
    ids().forEach(function (n) {
      if (pos[n]) return;
      var d = depth[n] === undefined ? 0 : depth[n];
      rows[d] = (rows[d] || 0) + 1;
      pos[n] = { x: 20 + d * 270, y: 20 + (rows[d] - 1) * 110 +
                 (depth[n] === undefined ? 220 : 0) };
    });
  }

  function draw() {
    drawing = true;
    editor.clear();
    dfOf = {}; idOf = {};
    layout();
    ids().forEach(function (n) {
      var node = nodes()[n];
      var outs = TERMINAL[node.type] ? 0 : 1;
      var id = editor.addNode(n, 1, outs, pos[n].x, pos[n].y, "wf-node", { id: n }, "");
      dfOf[n] = id; idOf[id] = n;
      var box = document.querySelector("#node-" + id + " .drawflow_content_node");
      if (box) box.textContent = n + " (" + node.type + ")" + (node.title ? ": " + node.title : "");
      var host = $("node-" + id);
      if (host) {
        host.classList.toggle("is-start", n === flow().start);
        host.classList.toggle("has-error", issues.some(function (i) { return i.node === n; }));
      }
    });
    ids().forEach(function (n) {
      (nodes()[n].next || []).forEach(function (t) {
        if (dfOf[t.to] !== undefined && !TERMINAL[nodes()[n].type]) {
          editor.addConnection(dfOf[n], dfOf[t.to], "output_1", "input_1");
        }
      });
    });
    drawing = false;
  }

  editor.on("nodeMoved", function (id) {
    var d = editor.getNodeFromId(id);
    pos[idOf[id]] = { x: d.pos_x, y: d.pos_y };
  });
  editor.on("nodeSelected", function (id) { select(idOf[id]); });
  editor.on("connectionCreated", function (c) {
    if (drawing) return;
    var from = idOf[c.output_id], to = idOf[c.input_id];
    if (!from || !to) return;
    var next = nodes()[from].next = nodes()[from].next || [];
    var last = next[next.length - 1];
    if (last && !last.when) next.splice(next.length - 1, 0, { to: to, when: "" });
    else next.push({ to: to });
    select(from);
    changed(false);
    var box = document.querySelector("#transitions li:nth-child(" +
      (next.findIndex(function (t) { return t.to === to; }) + 1) + ") input.cel");
    if (box) box.focus();
  });
  editor.on("connectionRemoved", function (c) {
    if (drawing) return;
    var from = idOf[c.output_id], to = idOf[c.input_id];
    if (!from || !nodes()[from]) return;
    nodes()[from].next = (nodes()[from].next || []).filter(function (t) { return t.to !== to; });
    changed(false);
  });
  editor.on("nodeRemoved", function (id) {
    if (drawing) return;
    removeNode(idOf[id], false);
  });

  // -- the model ------------------------------------------------------------------------
  function clean() {
    ids().forEach(function (n) {
      var node = nodes()[n];
      // In place: the panel's inputs hold on to these transition objects.
      (node.next || []).forEach(function (t) {
        if (t.when !== undefined && !String(t.when).trim()) delete t.when;
      });
      if (node.next && !node.next.length) delete node.next;
      if (!node.title) delete node.title;
      if (!node.reasons || !node.reasons.length) delete node.reasons;
    });
  }

  function changed(redraw) {
    clean();
    area.value = JSON.stringify(def, null, 2);
    if (redraw) draw();
    panel();
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, 400);
  }

  function removeNode(n, redraw) {
    if (!n || !nodes()[n]) return;
    delete nodes()[n];
    delete pos[n];
    ids().forEach(function (m) {
      nodes()[m].next = (nodes()[m].next || []).filter(function (t) { return t.to !== n; });
    });
    if (flow().start === n) flow().start = ids()[0] || "";
    if (selected === n) selected = null;
    changed(redraw);
  }

  function select(n) {
    selected = n && nodes()[n] ? n : null;
    panel();
  }

  // -- the panel ------------------------------------------------------------------------
  function fill(select, chosen, blank) {
    select.textContent = "";
    if (blank) option(select, "", blank, chosen);
    ids().forEach(function (n) { option(select, n, n + " (" + nodes()[n].type + ")", chosen); });
  }

  function issueFor(test) {
    var found = issues.filter(test);
    return found.length ? found.map(function (i) { return i.message; }).join("; ") : "";
  }

  var fields = [];  // the CEL inputs shown and which issues belong to each

  function celField(li, label, value, test, onInput, key) {
    var id = "cel-" + key;
    var lab = el("label", { "for": id }, label);
    var input = el("input", { type: "text", id: id, "class": "cel", spellcheck: "false" });
    input.value = value || "";
    if (readonly) input.readOnly = true;
    input.addEventListener("input", function () { onInput(input.value); });
    input.addEventListener("change", function () { changed(false); });
    var err = el("p", { id: id + "-error", "class": "field-error" });
    err.hidden = true;
    li.appendChild(lab); li.appendChild(input); li.appendChild(err);
    fields.push({ input: input, error: err, test: test });
  }

  function markErrors() {
    fields.forEach(function (f) {
      var text = issueFor(f.test);
      f.error.textContent = text;
      f.error.hidden = !text;
      if (text) {
        f.input.setAttribute("aria-invalid", "true");
        f.input.setAttribute("aria-describedby", f.error.id);
      } else {
        f.input.removeAttribute("aria-invalid");
        f.input.removeAttribute("aria-describedby");
      }
    });
  }

  function button(li, text, onClick) {
    if (readonly) return;
    var b = el("button", { type: "button" }, text);
    b.addEventListener("click", onClick);
    li.appendChild(b);
  }

  function transitions(n) {
    var list = $("transitions");
    list.textContent = "";
    (nodes()[n].next || []).forEach(function (t, i) {
      var li = el("li", { "class": "wf-item" });
      li.appendChild(el("span", {}, "to " + t.to + " "));
      var err = function (x) { return x.node === n && x.transition === i; };
      celField(li, "Condition (CEL) to " + t.to + ", empty for otherwise ", t.when, err,
               function (v) { t.when = v; area.value = JSON.stringify(def, null, 2);
                              if (timer) clearTimeout(timer); timer = setTimeout(check, 600); },
               n + "-" + i);
      button(li, "Remove transition to " + t.to, function () {
        nodes()[n].next.splice(i, 1); changed(true);
      });
      list.appendChild(li);
    });
  }

  function rules() {
    var list = $("rules");
    list.textContent = "";
    (flow().decision || []).forEach(function (r, i) {
      var li = el("li", { "class": "wf-item" });
      var idLab = el("label", {}, "Rule id ");
      var idIn = el("input", { type: "text", maxlength: "40" });
      idIn.value = r.id;
      idIn.addEventListener("change", function () { r.id = idIn.value.trim(); changed(false); });
      idLab.appendChild(idIn); li.appendChild(idLab);
      var actLab = el("label", {}, " action ");
      var act = el("select", {});
      ["decline", "review", "approve"].forEach(function (a) { option(act, a, a, r.action); });
      act.addEventListener("change", function () { r.action = act.value; changed(false); });
      actLab.appendChild(act); li.appendChild(actLab);
      var err = function (x) { return x.rule === r.id; };
      celField(li, " if (CEL) ", r.when, err, function (v) {
        r.when = v; area.value = JSON.stringify(def, null, 2);
        if (timer) clearTimeout(timer); timer = setTimeout(check, 600);
      }, "rule-" + i);
      var rsLab = el("label", {}, "Reason codes of rule " + (r.id || i + 1) + " ");
      var rs = el("input", { type: "text" });
      rs.value = (r.reasons || []).join(", ");
      rs.addEventListener("change", function () {
        r.reasons = rs.value.split(",").map(function (x) { return x.trim(); })
          .filter(Boolean);
        if (!r.reasons.length) delete r.reasons;
        changed(false);
      });
      rsLab.appendChild(rs); li.appendChild(rsLab);
      button(li, "Remove rule " + (r.id || i + 1), function () {
        flow().decision.splice(i, 1); changed(false);
      });
      list.appendChild(li);
    });
  }

  function panel() {
    fields = [];
    fill($("f-start"), flow().start);
    $("f-otherwise").value = flow().otherwise || "review";
    fill($("f-node"), selected || "", "(choose a step)");
    var has = !!selected;
    ["f-type", "f-title", "f-reasons", "b-remove-step", "f-connect", "b-connect"].forEach(
      function (k) { $(k).disabled = !has || readonly; });
    $("transitions").textContent = "";
    if (has) {
      var node = nodes()[selected];
      $("f-type").value = node.type;
      $("f-title").value = node.title || "";
      $("f-reasons").value = (node.reasons || []).join(", ");
      fill($("f-connect"), "");
      transitions(selected);
    }
    rules();
    markErrors();
    ["f-start", "f-otherwise"].forEach(function (k) { $(k).disabled = readonly; });
  }

  $("f-node").addEventListener("change", function () { select($("f-node").value); });
  $("f-start").addEventListener("change", function () {
    flow().start = $("f-start").value; changed(true);
  });
  $("f-otherwise").addEventListener("change", function () {
    flow().otherwise = $("f-otherwise").value; changed(false);
  });
  $("f-type").addEventListener("change", function () {
    var node = nodes()[selected];
    node.type = $("f-type").value;
    if (TERMINAL[node.type]) delete node.next;
    changed(true);
  });
  $("f-title").addEventListener("change", function () {
    nodes()[selected].title = $("f-title").value.trim(); changed(true);
  });
  $("f-reasons").addEventListener("change", function () {
    nodes()[selected].reasons = $("f-reasons").value.split(",")
      .map(function (x) { return x.trim(); }).filter(Boolean);
    changed(false);
  });
  $("b-remove-step").addEventListener("click", function () { removeNode(selected, true); });
  $("b-connect").addEventListener("click", function () {
    var to = $("f-connect").value, node = nodes()[selected];
    if (!to || TERMINAL[node.type]) return;
    var next = node.next = node.next || [];
    var last = next[next.length - 1];
    if (last && !last.when) next.splice(next.length - 1, 0, { to: to, when: "" });
    else next.push({ to: to });
    changed(true);
  });
  $("b-add-step").addEventListener("click", function () {
    var type = $("f-new-type").value;
    var id = ($("f-new-id").value || "").trim() || type;
    var base = id, k = 2;
    while (nodes()[id]) { id = base + "_" + k; k += 1; }
    nodes()[id] = { type: type };
    $("f-new-id").value = "";
    selected = id;
    changed(true);
  });
  $("b-add-rule").addEventListener("click", function () {
    var list = flow().decision = flow().decision || [];
    list.push({ id: "rule_" + (list.length + 1), action: "review", when: "true" });
    changed(false);
  });
  $("b-check").addEventListener("click", check);
  area.addEventListener("change", function () {
    try {
      var parsed = JSON.parse(area.value);
      if (!parsed.flow) throw new Error("no flow");
      def = parsed;
      if (!nodes()[selected]) selected = null;
      draw(); panel(); check();
    } catch (e) {
      show([{ message: "The JSON does not parse: " + e.message }]);
    }
  });

  // -- the server's validator -----------------------------------------------------------
  function show(found) {
    issues = found;
    var box = $("check-result");
    box.textContent = "";
    box.classList.toggle("ok", !found.length);
    if (!found.length) { box.textContent = "No problem found: this graph can be published."; }
    else {
      box.appendChild(el("p", {}, found.length + " problem(s) found:"));
      var ul = el("ul", { id: "check-issues" });
      found.forEach(function (i) { ul.appendChild(el("li", {}, i.text || i.message)); });
      box.appendChild(ul);
    }
    ids().forEach(function (n) {
      var host = $("node-" + dfOf[n]);
      if (host) host.classList.toggle("has-error", found.some(function (i) { return i.node === n; }));
    });
    markErrors();
  }

  function check() {
    if (timer) { clearTimeout(timer); timer = null; }
    clean();
    fetch(section.getAttribute("data-check"), {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ definition: def })
    }).then(function (r) { return r.json(); })
      .then(function (data) { show(data.issues || []); })
      .catch(function () { show([{ message: "The check could not reach the server." }]); });
  }

  draw();
  panel();
  check();
})();
