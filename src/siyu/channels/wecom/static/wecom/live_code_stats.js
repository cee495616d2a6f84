// Draws daily statistics (live codes, customer groups): <div class="wecom-chart" data-chart-url="…" data-series="adds,deletions">.
// The endpoint answers {"days": [...], "adds": [...], "deletions": [...], "net": [...], "retention": [...],
// "labels": {"adds": "…", …}}.
(function () {
  "use strict";
  var COLORS = { adds: "#198754", deletions: "#dc3545", net: "#0d6efd", retention: "#6f42c1",
                 joins: "#198754", quits: "#dc3545", members: "#0d6efd" };
  var LINES = { net: true, members: true };

  function draw(element) {
    if (!window.echarts) return;
    fetch(element.getAttribute("data-chart-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var names = element.getAttribute("data-series").split(",");
        var percent = element.getAttribute("data-percent") === "1";
        var any = names.some(function (n) { return (data[n] || []).some(function (v) { return v; }); });
        if (!any) {
          element.classList.add("d-flex", "align-items-center", "justify-content-center", "text-body-secondary");
          element.textContent = element.getAttribute("data-empty-text") || "";
          element.setAttribute("data-chart-ready", "1");
          return;
        }
        var chart = window.echarts.init(element, null, { renderer: "canvas" });
        chart.on("finished", function () { element.setAttribute("data-chart-ready", "1"); });
        chart.setOption({
          grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
          legend: { top: 0 },
          tooltip: { trigger: "axis" },
          xAxis: { type: "category", data: data.days.map(function (d) { return d.slice(5); }) },
          yAxis: percent ? { type: "value", min: 0, max: 100 } : { type: "value", minInterval: 1 },
          series: names.map(function (n) {
            return { name: (data.labels || {})[n] || n, type: LINES[n] || percent ? "line" : "bar",
                     data: data[n], connectNulls: true, itemStyle: { color: COLORS[n] } };
          })
        });
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function (error) {
        element.textContent = String(error);
        element.classList.add("text-danger");
        element.setAttribute("data-chart-ready", "error");
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".wecom-chart[data-chart-url]").forEach(draw);
  });
})();
