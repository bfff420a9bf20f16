// Follow background jobs: while a job is queued or running, poll the shop's jobs.json every 2 s
// and redraw the list; when nothing runs, the page does not poll at all.
(function () {
  "use strict";
  var box = document.querySelector(".jobs[data-jobs-url]");
  if (!box) { return; }
  var labels = JSON.parse(box.getAttribute("data-labels"));
  var list = box.querySelector(".joblist");
  var limit = list.children.length > 3 ? 10 : 3;
  var EVERY = 2000;

  function fmt(n, digits) {
    return Number(n).toLocaleString(document.documentElement.lang, {
      minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function render(jobs) {
    list.textContent = "";
    if (!jobs.length) {
      list.appendChild(el("li", "empty", labels.none));
      return;
    }
    jobs.slice(0, limit).forEach(function (job) {
      var active = job.state === "queued" || job.state === "running";
      var li = el("li", "job " + job.state);
      li.setAttribute("data-id", job.id);
      var head = el("div", "jobhead");
      var kind = labels[job.kind] || job.kind;
      var state = labels[job.state] || job.state;
      head.appendChild(el("span", "jobkind", kind));
      head.appendChild(el("span", "badge " + job.state, state));
      var time = el("time", "jobmeta jobtime", job.created_text);
      time.setAttribute("datetime", job.created_at);
      head.appendChild(time);
      var bar = el("progress");
      bar.max = 1;
      bar.setAttribute("aria-label", kind + " (" + state + ")");
      // Unknown total while running: no value, so the bar shows as indeterminate.
      if (job.fraction !== null) { bar.value = job.fraction; } else if (!active) { bar.value = 0; }
      var parts = [];
      if (job.total) {
        parts.push(fmt(job.done, 0) + " / " + fmt(job.total, 0));
      } else if (active) {
        parts.push(labels.so_far.replace("{n}", fmt(job.done, 0)));
      } else {
        parts.push(fmt(job.done, 0));
      }
      if (job.step && job.state !== "done") { parts.push(labels.steps[job.step] || job.step); }
      if (job.rate && job.kind === "sync") { parts.push(fmt(job.rate, 1) + " " + labels.per_s); }
      if (job.elapsed !== null && !active) { parts.push(fmt(job.elapsed, 1) + " s"); }
      if (job.errors) {
        parts.push(job.errors === 1 ? labels.errors_one : labels.errors.replace("{n}", fmt(job.errors, 0)));
      }
      if (job.state === "queued") { parts.push(labels.worker); }
      li.appendChild(head);
      li.appendChild(bar);
      li.appendChild(el("div", "jobmeta", parts.join(" · ")));
      if (job.message_text) {
        var msg = el("div", "jobmeta" + (job.state === "failed" ? " jobmessage" : ""), job.message_text);
        if (job.message_detail) {
          var detail = el("span", "", job.message_detail);
          detail.setAttribute("lang", "en");
          detail.setAttribute("translate", "no");
          msg.appendChild(document.createTextNode(" "));
          msg.appendChild(detail);
        }
        li.appendChild(msg);
      }
      list.appendChild(li);
    });
  }

  function finished() {
    if (box.querySelector(".finished")) { return; }
    // The page's figures predate the job: offer to show the new ones.
    var note = el("a", "finished btn secondary", labels.reload);
    note.href = window.location.href;
    box.appendChild(note);
  }

  function poll() {
    fetch(box.getAttribute("data-jobs-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return true; }  // a hiccup: ask again
        render(data.jobs);
        if (!data.active) { finished(); }
        return data.active;
      })
      .catch(function () { return true; })  // offline for a moment: try again on the next tick
      .then(function (again) {
        box.setAttribute("data-active", again ? "true" : "false");
        if (again) { window.setTimeout(poll, EVERY); }
      });
  }
  if (box.getAttribute("data-active") === "true") { window.setTimeout(poll, EVERY); }
}());
