// Draws a broadcast's results per employee as stacked bars: <div class="wecom-broadcast-chart" data-chart-url="…">.
// The endpoint answers {"employees": ["张三", …], "series": [{"key": "sent", "name": "…", "data": [3, …]}, …]}.
(function () {
  "use strict";
  var COLORS = { sent: "#198754", accepted: "#0dcaf0", not_friend: "#ffc107", refused_limit: "#fd7e14", failed: "#dc3545" };

  function draw(element) {
    if (!window.echarts) return;
    fetch(element.getAttribute("data-chart-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (!(data.employees || []).length) {
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
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          xAxis: { type: "value", minInterval: 1 },
          yAxis: { type: "category", inverse: true, data: data.employees },
          series: data.series.map(function (s) {
            return { name: s.name, type: "bar", stack: "total", data: s.data, itemStyle: { color: COLORS[s.key] } };
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
    document.querySelectorAll(".wecom-broadcast-chart[data-chart-url]").forEach(draw);
  });
})();
