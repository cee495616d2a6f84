// The sales funnel (ECharts funnel series) from {"title", "items": [{"name", "count", "amount"}]}.
(function () {
  "use strict";
  function draw(element) {
    if (!window.echarts) return;
    fetch(element.getAttribute("data-chart-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        var items = (data.items || []).filter(function (i) { return i.count > 0; });
        if (!items.length) {
          element.classList.add("d-flex", "align-items-center", "justify-content-center", "text-body-secondary");
          element.textContent = element.getAttribute("data-empty-text") || "";
          element.setAttribute("data-chart-ready", "1");
          return;
        }
        var chart = window.echarts.init(element, null, { renderer: "canvas" });
        chart.on("finished", function () { element.setAttribute("data-chart-ready", "1"); });
        chart.setOption({
          tooltip: { trigger: "item", formatter: function (p) { return p.name + ": " + p.value + " (¥" + p.data.amount + ")"; } },
          series: [{ type: "funnel", name: data.title, sort: "none", left: "10%", width: "80%", minSize: "10%",
                     label: { show: true, position: "inside", formatter: "{b}: {c}" },
                     data: items.map(function (i) { return { name: i.name, value: i.count, amount: i.amount }; }) }]
        });
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function (error) {
        element.textContent = String(error);
        element.setAttribute("data-chart-ready", "error");
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".sales-funnel[data-chart-url]").forEach(draw);
  });
})();
