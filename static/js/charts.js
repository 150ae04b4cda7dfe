// Draws plotly figures rendered by the server into <script type="application/json"> elements
// (the Content-Security-Policy forbids inline scripts). A chart element names its figure with
// data-figure; clicking a point with a URL in its customdata opens it (drill-down).
(function () {
  "use strict";

  function draw(root) {
    if (typeof Plotly === "undefined") return;
    root.querySelectorAll("[data-figure]").forEach(function (element) {
      if (element.dataset.drawn) return;
      const source = document.getElementById(element.dataset.figure);
      if (!source) return;
      const figure = JSON.parse(source.textContent);
      element.dataset.drawn = "1";
      Plotly.newPlot(element, figure.data, figure.layout, { displaylogo: false, displayModeBar: false, responsive: true });
      element.on("plotly_click", function (data) {
        const point = data.points && data.points[0];
        const url = point && point.customdata;
        if (typeof url === "string" && url.startsWith("/")) window.location.href = url;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
