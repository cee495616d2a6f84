// Draws ECharts charts from JSON endpoints: <div class="siyu-chart" data-chart-url="…">.
// The endpoint answers {"title": "…", "items": [{"name": "…", "count": 3}, …]}.
(function () {
  "use strict";

  function draw(element) {
    if (!window.echarts) return;
    fetch(element.getAttribute("data-chart-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var items = data.items || [];
        if (!items.length) {
          element.classList.add("d-flex", "align-items-center", "justify-content-center", "text-body-secondary");
          element.textContent = element.getAttribute("data-empty-text") || "";
          element.setAttribute("data-chart-ready", "1");
          return;
        }
        var previous = window.echarts.getInstanceByDom(element);
        if (previous) previous.dispose();
        var chart = window.echarts.init(element, null, { renderer: "canvas" });
        // Marks the chart as drawn (animation over) for people's tools and the browser tests alike.
        chart.on("finished", function () { element.setAttribute("data-chart-ready", "1"); });
        chart.setOption({
          grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          xAxis: { type: "value", minInterval: 1 },
          yAxis: { type: "category", inverse: true, data: items.map(function (i) { return i.name; }) },
          series: [{ type: "bar", name: data.title, data: items.map(function (i) { return i.count; }),
                     itemStyle: { color: "#0d6efd", borderRadius: [0, 4, 4, 0] }, barMaxWidth: 28,
                     label: { show: true, position: "right" } }]
        });
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function (error) {
        element.textContent = String(error);
        element.classList.add("text-danger");
        element.setAttribute("data-chart-ready", "error");
      });
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".siyu-chart[data-chart-url]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
