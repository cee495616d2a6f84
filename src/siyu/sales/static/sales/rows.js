// Rows of the generic record list open their record: <div class="sales-row-links" data-row-url=".../0/">.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var wrap = e.target.closest && e.target.closest(".sales-row-links");
    if (!wrap || e.target.closest("a, button, input, select, thead")) return;
    var row = e.target.closest("tr[data-pk]");
    if (!row) return;
    window.location.href = wrap.getAttribute("data-row-url").replace(/\/0\/$/, "/" + row.getAttribute("data-pk") + "/");
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".sales-row-links tr[data-pk]").forEach(function (r) { r.style.cursor = "pointer"; });
  });
})();
