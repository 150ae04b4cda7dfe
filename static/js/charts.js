// Draws plotly figures rendered by the server into <script type="application/json"> elements
// (the Content-Security-Policy forbids inline scripts). A chart element names its figure with
// data-figure; clicking a point with a URL in its customdata opens it (drill-down). Content that
// htmx swaps in carries its figure in data-figure-json instead (htmx drops script elements).
(function () {
  "use strict";

  function draw(root) {
    if (typeof Plotly === "undefined") return;
    root.querySelectorAll("[data-figure], [data-figure-json]").forEach(function (element) {
      if (element.dataset.drawn) return;
      let text = element.dataset.figureJson;
      if (!text) {
        const source = document.getElementById(element.dataset.figure);
        if (!source) return;
        text = source.textContent;
      }
      const figure = JSON.parse(text);
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
