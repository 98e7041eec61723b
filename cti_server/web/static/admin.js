// Administration console (docs/web.md "Administration console"): no framework, no inline
// script (the pages' CSP is default-src 'self').
(function () {
  "use strict";

  // skill grid: mark edited cells so the administrator sees what Save will change
  var grid = document.getElementById("adm-grid");
  if (grid) {
    grid.addEventListener("input", function (event) {
      var input = event.target;
      if (input && input.name && input.name.indexOf("lvl|") === 0) {
        var cell = input.parentNode;
        if (input.value !== input.defaultValue) {
          cell.classList.add("adm-edited");
        } else {
          cell.classList.remove("adm-edited");
        }
      }
    });
  }

  // prompt upload: the WAV file is the body of a PUT (the server's prompt store checks it)
  var upload = document.getElementById("adm-prompt-upload");
  if (upload) {
    upload.addEventListener("submit", function (event) {
      event.preventDefault();
      var result = document.getElementById("adm-prompt-result");
      var file = upload.elements.file.files[0];
      if (!file) {
        return;
      }
      var url = upload.dataset.base + "/admin/prompts/" +
        encodeURIComponent(upload.elements.language.value) + "/" +
        encodeURIComponent(upload.elements.prompt_id.value);
      result.textContent = "…";
      fetch(url, {
        method: "PUT",
        credentials: "same-origin",
        headers: {"Content-Type": "audio/wav", "X-CSRF-Token": upload.dataset.csrf},
        body: file
      }).then(function (response) {
        return response.json().then(function (body) {
          result.textContent = body.message || String(response.status);
          result.className = body.ok ? "adm-ok" : "error";
          if (body.ok) {
            window.setTimeout(function () { window.location.reload(); }, 600);
          }
        });
      }).catch(function (error) {
        result.textContent = String(error);
        result.className = "error";
      });
    });
  }
})();
