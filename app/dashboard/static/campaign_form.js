// The campaign form's live count: ask the server how many customers the target selects.
(function () {
  "use strict";
  var form = document.querySelector("form[data-count-url]");
  if (!form) { return; }
  var url = form.getAttribute("data-count-url");
  var labels = JSON.parse(form.getAttribute("data-count-labels"));
  var out = document.getElementById("target-count");
  var kind = document.getElementById("f-target_kind");
  var arg = document.getElementById("f-target_arg");
  var timer = null;
  var asked = 0;

  function count() {
    var mine = ++asked;
    out.textContent = labels.loading;
    var q = "?kind=" + encodeURIComponent(kind.value) + "&arg=" + encodeURIComponent(arg.value.trim());
    fetch(url + q, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== asked) { return; }
        if (data.error) {
          out.textContent = labels.error.replace("{e}", data.error);
        } else {
          out.textContent = labels.one.replace("{n}", Number(data.count).toLocaleString(document.documentElement.lang));
        }
        out.setAttribute("data-count", data.count === null ? "" : String(data.count));
      });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(count, 300);
  }

  kind.addEventListener("change", later);
  arg.addEventListener("input", later);
  count();
})();
