// Draws the page's charts from the JSON island the server rendered (no inline script:
// the Content-Security-Policy allows scripts from this server only).
(function () {
  var island = document.getElementById("chart-data");
  if (!island || typeof echarts === "undefined") { return; }
  var charts = JSON.parse(island.textContent);
  charts.forEach(function (spec) {
    var el = document.getElementById(spec.id);
    if (!el) { return; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(spec.option);
    el.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
