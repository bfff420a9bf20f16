// Follow background jobs: poll the shop's jobs.json every 2 s while a job is queued or running.
(function () {
  "use strict";
  var box = document.querySelector(".jobs[data-jobs-url]");
  if (!box) { return; }
  var labels = JSON.parse(box.getAttribute("data-labels"));
  var list = box.querySelector(".joblist");
  var limit = list.children.length > 3 ? 10 : 3;
  var wasActive = false;

  function fmt(n, digits) {
    return Number(n).toLocaleString(document.documentElement.lang, {
      minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function render(jobs) {
    list.textContent = "";
    if (!jobs.length) {
      var li = document.createElement("li");
      li.className = "empty";
      li.textContent = labels.none;
      list.appendChild(li);
      return;
    }
    jobs.slice(0, limit).forEach(function (job) {
      var li = document.createElement("li");
      li.className = "job " + job.state;
      li.setAttribute("data-id", job.id);
      var head = document.createElement("div");
      head.className = "jobhead";
      var kind = document.createElement("span");
      kind.className = "jobkind";
      kind.textContent = labels[job.kind] || job.kind;
      var badge = document.createElement("span");
      badge.className = "badge " + job.state;
      badge.textContent = labels[job.state] || job.state;
      head.appendChild(kind);
      head.appendChild(badge);
      var bar = document.createElement("progress");
      bar.max = 1;
      if (job.fraction !== null) { bar.value = job.fraction; }
      var meta = document.createElement("div");
      meta.className = "jobmeta";
      var parts = [fmt(job.done, 0) + (job.total ? " / " + fmt(job.total, 0) : "")];
      if (job.step && job.state !== "done") { parts.push(labels.steps[job.step] || job.step); }
      if (job.rate && job.kind === "sync") { parts.push(fmt(job.rate, 1) + " " + labels.per_s); }
      if (job.elapsed !== null && (job.state === "done" || job.state === "failed")) {
        parts.push(fmt(job.elapsed, 1) + " s");
      }
      if (job.errors) { parts.push(fmt(job.errors, 0) + " " + labels.errors); }
      if (job.message) { parts.push(job.message); }
      if (job.state === "queued") { parts.push(labels.worker); }
      meta.textContent = parts.join(" · ");
      li.appendChild(head);
      li.appendChild(bar);
      li.appendChild(meta);
      list.appendChild(li);
    });
  }

  function poll() {
    fetch(box.getAttribute("data-jobs-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        render(data.jobs);
        if (wasActive && !data.active && !box.querySelector(".finished")) {
          // The page's figures predate the job: offer to show the new ones.
          var note = document.createElement("a");
          note.className = "finished btn secondary";
          note.href = window.location.href;
          note.textContent = labels.reload;
          box.appendChild(note);
        }
        wasActive = data.active;
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { window.setTimeout(poll, 2000); });
  }
  poll();
}());
