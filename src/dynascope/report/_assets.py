"""The report page's inline stylesheet and scripts (no external CSS, fonts or scripts: the page works offline)."""

CSS = """
:root { --ink: #1a1a1a; --muted: #555; --rule: #d0d0d0; --accent: #0072B2; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); max-width: 1200px; margin: 0 auto; padding: 1rem 2rem 4rem; line-height: 1.45; }
h1 { border-bottom: 2px solid var(--accent); padding-bottom: .3rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid var(--rule); padding-bottom: .2rem; }
nav ul { display: flex; flex-wrap: wrap; gap: 1.2rem; list-style: none; padding: 0; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid var(--rule); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .9rem; }
.grid { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.grid figure { flex: 1 1 420px; }
.config > div { flex: 0 1 auto; }
.note { color: var(--muted); font-style: italic; }
.pending { background: #fff8e5; border-left: 4px solid #E69F00; padding: .5rem .8rem; }
code { background: #f3f3f3; padding: 0 .25rem; border-radius: 3px; }
.plot { width: 100%; min-height: 480px; }
select { font-size: 1rem; padding: .2rem; }
"""

#: Runs first: records every uncaught error on <body data-errors>, so a headless browser test can read it.
ERROR_TRAP = """
(function () {
  function record(msg) {
    var b = document.body;
    b.dataset.errors = (b.dataset.errors ? b.dataset.errors + "\\n" : "") + msg;
  }
  window.addEventListener("error", function (e) { record("error: " + (e.message || e.type)); });
  window.addEventListener("unhandledrejection", function (e) { record("rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();
"""

#: Renders plotly figures lazily (hidden panels have no size), switches network panels, then marks
#: <body data-ready="1"> once the visible figures are drawn.
RENDER = """
(function () {
  var config = {responsive: true, displaylogo: false};
  function render(root) {
    var jobs = [];
    root.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
      if (div.dataset.rendered) { Plotly.Plots.resize(div); return; }
      var spec = JSON.parse(document.getElementById(div.dataset.figure).textContent);
      div.dataset.rendered = "1";
      jobs.push(Plotly.newPlot(div, spec.data, spec.layout, config));
    });
    return Promise.all(jobs);
  }
  function show(id) {
    var shown = null;
    document.querySelectorAll(".network-panel").forEach(function (p) {
      p.hidden = p.id !== id;
      if (!p.hidden) { shown = p; }
    });
    return shown ? render(shown) : Promise.resolve();
  }
  window.dynascopeShow = show;
  var select = document.getElementById("network-select");
  var jobs = [render(document.getElementById("population") || document.createElement("div"))];
  if (select) {
    select.addEventListener("change", function () { show(select.value); });
    jobs.push(show(select.value));
  }
  Promise.all(jobs).then(function () { document.body.dataset.ready = "1"; },
                         function (err) { document.body.dataset.errors = (document.body.dataset.errors || "") + "render: " + err; });
})();
"""
