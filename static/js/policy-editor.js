// The policy rule editor: shows the inputs each selector needs and adds rule rows.
(function () {
  "use strict";

  function refresh(row) {
    const select = row.querySelector("select[name$='-type']");
    if (!select) return;
    row.querySelectorAll("[data-show-for]").forEach(function (el) {
      const wanted = el.dataset.showFor.split(" ");
      el.hidden = wanted.indexOf(select.value) === -1;
    });
  }

  function setup(editor) {
    editor.querySelectorAll("[data-rule]").forEach(refresh);
    editor.addEventListener("change", function (event) {
      if (event.target.matches("select[name$='-type']")) refresh(event.target.closest("[data-rule]"));
    });
    const add = editor.querySelector("[data-add-rule]");
    const template = editor.querySelector("#rule-template");
    const total = editor.querySelector("input[name$='-TOTAL_FORMS']");
    add.addEventListener("click", function () {
      const index = parseInt(total.value, 10);
      const html = template.innerHTML.replace(/__prefix__/g, String(index));
      const holder = document.createElement("div");
      holder.innerHTML = html;
      const row = holder.firstElementChild;
      editor.querySelector("#rules").appendChild(row);
      total.value = String(index + 1);
      refresh(row);
      const first = row.querySelector("select");
      if (first) first.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-policy-editor]").forEach(setup);
  });
})();
