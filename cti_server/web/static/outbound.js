// Outbound extraction sets (docs/web.md "Outbound lists"): the AND/OR condition builder.
// It edits the JSON in the "conditions" textarea (the form sends that; the server
// validates it and compiles it to bound SQL expressions). No framework, no inline script.
(function () {
  "use strict";

  var builder = document.getElementById("ob-builder");
  var text = document.getElementById("ob-conditions");
  var source = document.getElementById("ob-set-source");
  if (!builder || !text) {
    return;
  }
  var columns = JSON.parse(builder.dataset.columns || "{}");
  var operators = JSON.parse(builder.dataset.operators || "[]");
  var noValue = {"is empty": true, "is not empty": true};
  var tree;
  try {
    tree = JSON.parse(text.value || "{}");
  } catch (e) {
    tree = {};
  }
  if (!tree || !Array.isArray(tree.items)) {
    tree = {op: "and", items: []};
  }
  text.classList.add("ob-hidden");

  function fields() {
    return (source && columns[source.value]) || [];
  }

  function save() {
    text.value = JSON.stringify(tree);
  }

  function option(select, value, label, chosen) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    if (value === chosen) {
      o.selected = true;
    }
    select.appendChild(o);
  }

  function button(label, cls, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = cls;
    b.addEventListener("click", function () { onClick(); save(); render(); });
    return b;
  }

  function conditionRow(group, item) {
    var row = document.createElement("div");
    row.className = "ob-cond";
    var field = document.createElement("select");
    field.className = "ob-field";
    var names = fields();
    if (names.indexOf(item.field) < 0 && item.field) {
      option(field, item.field, item.field, item.field);
    }
    names.forEach(function (n) { option(field, n, n, item.field); });
    if (!item.field && names.length) {
      item.field = names[0];
    }
    field.addEventListener("change", function () { item.field = field.value; save(); });
    var op = document.createElement("select");
    op.className = "ob-operator";
    operators.forEach(function (o) { option(op, o, o, item.operator); });
    if (!item.operator) {
      item.operator = "=";
    }
    var value = document.createElement("input");
    value.className = "ob-value";
    value.value = Array.isArray(item.value) ? item.value.join(", ") : (item.value || "");
    value.hidden = !!noValue[item.operator];
    op.addEventListener("change", function () {
      item.operator = op.value;
      value.hidden = !!noValue[item.operator];
      if (value.hidden) {
        delete item.value;
      } else {
        item.value = value.value;
      }
      save();
    });
    value.addEventListener("input", function () { item.value = value.value; save(); });
    row.appendChild(field);
    row.appendChild(op);
    row.appendChild(value);
    row.appendChild(button(builder.dataset.remove, "ob-remove", function () {
      group.items.splice(group.items.indexOf(item), 1);
    }));
    return row;
  }

  function groupBox(group, parent) {
    var box = document.createElement("div");
    box.className = "ob-group";
    var op = document.createElement("select");
    op.className = "ob-group-op";
    option(op, "and", builder.dataset.all, group.op || "and");
    option(op, "or", builder.dataset.any, group.op || "and");
    op.addEventListener("change", function () { group.op = op.value; save(); });
    box.appendChild(op);
    group.items.forEach(function (item) {
      if (Array.isArray(item.items)) {
        box.appendChild(groupBox(item, group));
      } else {
        box.appendChild(conditionRow(group, item));
      }
    });
    var tools = document.createElement("div");
    tools.className = "ob-tools";
    tools.appendChild(button(builder.dataset.addCondition, "ob-add-condition", function () {
      group.items.push({field: fields()[0] || "", operator: "=", value: ""});
    }));
    tools.appendChild(button(builder.dataset.addGroup, "ob-add-group", function () {
      group.items.push({op: "or", items: []});
    }));
    if (parent) {
      tools.appendChild(button(builder.dataset.remove, "ob-remove-group", function () {
        parent.items.splice(parent.items.indexOf(group), 1);
      }));
    }
    box.appendChild(tools);
    return box;
  }

  function render() {
    builder.textContent = "";
    builder.appendChild(groupBox(tree, null));
  }

  // a new source: its fields in the builder and in the mapping
  if (source) {
    source.addEventListener("change", function () {
      document.querySelectorAll("select.ob-map").forEach(function (select) {
        var chosen = select.value;
        while (select.options.length > 1) {
          select.remove(1);
        }
        fields().forEach(function (n) { option(select, n, n, chosen); });
      });
      render();
    });
  }
  save();
  render();
})();
