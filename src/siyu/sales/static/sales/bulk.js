// The lead list's bulk bar (<form id="sales-bulk-form">): a checkbox on each row of the record list, added here
// because the list template is the platform's, shared by every object (again after each htmx swap: filtering
// replaces the list, "load more" appends rows). The checkboxes belong to the bulk form through their form
// attribute, so the list's own filter form never sends them; their change events are kept from it too, since it
// reloads on any change. When the bar is posted, the list's current filter (htmx keeps it in the address bar, not
// in the page) goes with it for "every lead matching the filter".
(function () {
  "use strict";
  var FORM = "sales-bulk-form";

  function bulkForm() { return document.getElementById(FORM); }

  function boxes() {
    return document.querySelectorAll("#record-list input[data-bulk-row]");
  }

  function count() {
    var form = bulkForm();
    if (!form) return;
    var ticked = 0;
    boxes().forEach(function (b) { if (b.checked) ticked += 1; });
    form.querySelectorAll("[data-bulk-count]").forEach(function (el) { el.textContent = String(ticked); });
    if (ticked) form.querySelector("input[name=scope][value=selected]").checked = true;
  }

  function checkbox(label) {
    var box = document.createElement("input");
    box.type = "checkbox";
    box.className = "form-check-input";
    box.setAttribute("aria-label", label);
    return box;
  }

  function cellFor(tr, header) {
    var cell = document.createElement(header ? "th" : "td");
    cell.className = "sales-bulk-cell";
    // Not a click on the row (rows.js opens the lead) nor a change of the list's filter form.
    cell.addEventListener("click", function (e) { e.stopPropagation(); });
    cell.addEventListener("change", function (e) { e.stopPropagation(); count(); });
    tr.insertBefore(cell, tr.firstChild);
    return cell;
  }

  function decorate() {
    var form = bulkForm();
    var table = document.querySelector("#record-list table");
    if (!form || !table) return;
    table.querySelectorAll("tr:not([data-bulk-done])").forEach(function (tr) {
      tr.setAttribute("data-bulk-done", "");
      var pk = tr.getAttribute("data-pk");
      if (pk) {
        var box = checkbox(form.getAttribute("data-row-label"));
        box.name = "lead_ids";
        box.value = pk;
        box.setAttribute("form", FORM);
        box.setAttribute("data-bulk-row", "");
        cellFor(tr, false).appendChild(box);
      } else if (tr.parentElement.tagName === "THEAD") {
        var cell = cellFor(tr, tr === tr.parentElement.firstElementChild);
        if (cell.tagName === "TH") {
          cell.setAttribute("scope", "col");
          var all = checkbox(form.getAttribute("data-page-label"));
          all.addEventListener("change", function () {
            boxes().forEach(function (b) { b.checked = all.checked; });
          });
          cell.appendChild(all);
        }
      } else if (tr.firstElementChild) {  // "no records" and "load more": one cell across the table
        tr.firstElementChild.colSpan += 1;
      }
    });
    count();
  }

  document.addEventListener("DOMContentLoaded", function () {
    decorate();
    var form = bulkForm();
    if (!form) return;
    form.addEventListener("submit", function () {
      form.querySelector("input[name=query]").value = window.location.search.replace(/^\?/, "");
    });
  });
  document.addEventListener("htmx:afterSettle", decorate);
})();
