// Knowledge base: tell the reader when a newer version of the open article is published
// (R-BIZ-3 "live updates"). Polls the article's version stamp; no framework.
(function () {
  "use strict";
  var article = document.getElementById("kb-article");
  var banner = document.getElementById("kb-newer");
  if (!article || !banner || !window.fetch) { return; }
  var url = article.getAttribute("data-stamp-url");
  var shown = article.getAttribute("data-published");
  function check() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (stamp) {
        if (stamp && String(stamp.published_version || "") !== shown) { banner.hidden = false; }
      })
      .catch(function () {});
  }
  window.setInterval(check, 30000);
})();
