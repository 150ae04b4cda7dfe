// Shadow AI pages: selecting library rows for a bulk status change, showing the policy editor's
// fields for the chosen action, and ordering Gateway policies by drag and drop.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // --- Library: select rows for the bulk status form ---------------------------------------
  function updateCount() {
    const count = document.querySelectorAll("[data-select-row]:checked").length;
    document.querySelectorAll("[data-bulk-count]").forEach(function (el) { el.textContent = String(count); });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("[data-select-row]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("[data-select-all], [data-select-row]")) updateCount();
  });
  // A list re-rendered under the person (a search answered late, a second trigger of the same
  // filter) keeps the rows they had ticked, so "Apply to selected" acts on what they see.
  let ticked = [];
  document.addEventListener("htmx:beforeSwap", function () {
    ticked = Array.from(document.querySelectorAll("[data-select-row]:checked")).map(function (box) { return box.value; });
  });
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("[data-select-row]").forEach(function (box) {
      if (ticked.indexOf(box.value) !== -1) box.checked = true;
    });
    ticked = [];
    updateCount();
  });

  // --- Policy editor: fields for the chosen action -------------------------------------------
  function refreshAction(form) {
    const select = form.querySelector("select[name='action']");
    if (!select) return;
    form.querySelectorAll("[data-show-for-action]").forEach(function (el) {
      el.hidden = el.dataset.showForAction.split(" ").indexOf(select.value) === -1;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-gateway-policy]").forEach(function (form) {
      refreshAction(form);
      form.addEventListener("change", function (event) {
        if (event.target.matches("select[name='action']")) refreshAction(form);
      });
    });
  });

  // --- Policy list: drag rows to reorder ------------------------------------------------------
  let dragged = null;
  document.addEventListener("dragstart", function (event) {
    const row = event.target.closest && event.target.closest("tr[draggable='true']");
    if (!row) return;
    dragged = row;
    row.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.dataset.policyId);
  });
  document.addEventListener("dragover", function (event) {
    const row = event.target.closest && event.target.closest("tr[draggable='true']");
    if (!dragged || !row || row === dragged || row.parentNode !== dragged.parentNode) return;
    event.preventDefault();
    const box = row.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    row.parentNode.insertBefore(dragged, after ? row.nextSibling : row);
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    const row = dragged;
    dragged = null;
    row.classList.remove("dragging");
    const table = row.closest("table[data-reorder-url]");
    if (!table) return;
    const order = Array.prototype.map.call(table.querySelectorAll("tbody tr[data-policy-id]"), function (tr) {
      return parseInt(tr.dataset.policyId, 10);
    });
    fetch(table.dataset.reorderUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify({order: order}),
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (result) {
      if (!result.ok) window.alert(result.body.error || "The order could not be saved.");
      window.location.reload();
    }).catch(function () {
      window.alert("The order could not be saved; reload the page and try again.");
    });
  });
})();
