// Draws the dashboard's bar charts with the vendored uPlot 1.6.32 (MIT, from the npm registry;
// see uPlot.LICENSE.txt). Progressive enhancement: the server-drawn SVG and its table stay the
// accessible version; with JavaScript the SVG is hidden and an interactive chart drawn instead.
(function () {
  "use strict";
  function draw(fig) {
    var src = document.getElementById(fig.getAttribute("data-chart") + "-data");
    if (!src || typeof uPlot === "undefined") return;
    var data = JSON.parse(src.textContent || "[]");
    if (!data.length) return;
    var labels = data.map(function (d) { return d.label; });
    var xs = data.map(function (_d, i) { return i; });
    var ys = data.map(function (d) { return d.value; });
    var host = document.createElement("div");
    host.className = "uplot-host";
    host.setAttribute("aria-hidden", "true");  // the table below the chart is what is read
    fig.appendChild(host);
    var width = Math.max(260, Math.min(fig.clientWidth - 16, 640));
    var opts = {
      width: width, height: 220, legend: { show: false }, cursor: { points: { show: false } },
      scales: { x: { time: false, range: [-0.5, xs.length - 0.5] }, y: { range: [0, null] } },
      axes: [
        { values: function (_u, splits) { return splits.map(function (v) {
            return Number.isInteger(v) ? (labels[v] || "") : ""; }); },
          splits: function () { return xs; }, rotate: 0, size: 40 },
        { size: 40 }
      ],
      series: [{}, { label: "count", stroke: "#1f4e9c", fill: "#1f4e9c",
                     paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }]
    };
    new uPlot(opts, [xs, ys], host);
    var svg = fig.querySelector("svg");
    if (svg) svg.setAttribute("hidden", "");
    fig.classList.add("drawn");
  }
  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart[data-chart]"), draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
