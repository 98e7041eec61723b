// Customer tiers (docs/web.md "Customer tiers"): file upload as a PUT with the session's
// CSRF token, and the import's progress bar. No framework, no inline script (CSP
// default-src 'self').
(function () {
  "use strict";

  // upload: the file is the body of a PUT; the answer names the mapping page
  var upload = document.getElementById("tier-upload");
  if (upload) {
    upload.addEventListener("submit", function (event) {
      event.preventDefault();
      var result = document.getElementById("tier-upload-result");
      var file = upload.elements.file.files[0];
      if (!file) {
        return;
      }
      var button = document.getElementById("tier-upload-button");
      button.disabled = true;
      result.textContent = upload.dataset.busy;
      result.className = "";
      fetch(upload.dataset.url + "?name=" + encodeURIComponent(file.name), {
        method: "PUT",
        credentials: "same-origin",
        headers: {
          "Content-Type": file.type || "application/octet-stream",
          "X-CSRF-Token": upload.dataset.csrf
        },
        body: file
      }).then(function (response) {
        return response.json().then(function (body) {
          if (body.ok && body.url) {
            window.location.assign(body.url);
            return;
          }
          button.disabled = false;
          result.textContent = body.message || String(response.status);
          result.className = "error";
        });
      }).catch(function (error) {
        button.disabled = false;
        result.textContent = String(error);
        result.className = "error";
      });
    });
  }

  // import progress: poll the JSON endpoint until the job has finished, then reload
  // the page, which shows the report and the row errors
  var job = document.getElementById("tier-job");
  if (job && job.dataset.finished !== "true") {
    var bar = document.getElementById("tier-progress");
    var state = document.getElementById("tier-state");
    var rows = document.getElementById("tier-rows");
    var poll = function () {
      fetch(job.dataset.progress, {credentials: "same-origin", cache: "no-store"})
        .then(function (response) { return response.json(); })
        .then(function (body) {
          bar.value = body.percent;
          bar.textContent = body.percent + " %";
          state.textContent = body.state_text;
          state.className = "tier-state-" + body.state;
          rows.textContent = body.rows_text;
          job.dataset.state = body.state;
          if (body.finished) {
            window.location.reload();
          } else {
            window.setTimeout(poll, 400);
          }
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    };
    window.setTimeout(poll, 200);
  }
})();
