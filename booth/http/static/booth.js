// The booth works without this script; it only adds conveniences.
(function () {
  "use strict";
  // "up to N" check boxes: say how many are chosen as the member ticks them.
  document.querySelectorAll("fieldset[data-up-to]").forEach(function (set) {
    var most = parseInt(set.getAttribute("data-up-to"), 10);
    var count = set.querySelector("[data-count]");
    var boxes = set.querySelectorAll("input[type=checkbox]");
    function update() {
      var n = 0;
      boxes.forEach(function (b) { if (b.checked) { n += 1; } });
      count.hidden = false;
      count.textContent = n > most
        ? "You have chosen " + n + ": choose up to " + most + "."
        : "You have chosen " + n + " of up to " + most + ".";
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
  // Move focus to the error summary, as screen reader users expect.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) { summary.focus(); }
  // A print button where printing is possible.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    if (typeof window.print !== "function") { return; }
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
