// The moment slider of a device page: slide through the device's events, and the
// page reloads with ?as_of= set to the time just after the event picked.
// Everything else on the page works without this script.
(function () {
  "use strict";
  var box = document.getElementById("moment-slider-box");
  if (!box) { return; }
  var moments = JSON.parse(box.getAttribute("data-moments") || "[]");
  if (moments.length === 0) { return; }
  var input = document.getElementById("moment-slider");
  var label = document.getElementById("moment-label");
  function describe(index) {
    var m = moments[index];
    return "just after event #" + m.seq + ", " + m.at;
  }
  function show() {
    var text = describe(Number(input.value));
    label.textContent = text;
    input.setAttribute("aria-valuetext", text);
  }
  input.addEventListener("input", show);
  input.addEventListener("change", function () {
    var m = moments[Number(input.value)];
    var url = new URL(window.location.href);
    url.searchParams.set("as_of", m.at);
    url.hash = "moment";
    window.location.assign(url.toString());
  });
  box.hidden = false;
  show();
  if (window.location.hash === "#moment") { input.focus(); }
})();
