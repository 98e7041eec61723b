// window.opencc: the desktop's page bridge for OpenCC web panels.
// Injected by the desktop's QtWebEngine profile after qwebchannel.js; absent in a plain
// browser, so pages test `if (window.opencc)` first.
//
//   await opencc.ready;                      // the channel is up
//   await opencc.command({type: "dial", number: "10086"})   // -> {ok, error?, ...}
//   await opencc.context()                   // -> the current call or null
//   opencc.dial(number); opencc.openPanel(key, path); opencc.closeWork(callId, notes, category)
//   opencc.onContext(fn)                     // fn(context or null) on every change
(function () {
  "use strict";
  // Pages inside the desktop drop their site header (web.css: html.opencc-embedded).
  function markEmbedded() { document.documentElement.classList.add("opencc-embedded"); }
  if (document.documentElement) { markEmbedded(); }
  else { document.addEventListener("DOMContentLoaded", markEmbedded); }
  if (window.opencc || !(window.qt && window.qt.webChannelTransport) || typeof QWebChannel !== "function") {
    return;
  }
  var listeners = [];
  var api = null;
  var ready = new Promise(function (resolve) {
    new QWebChannel(window.qt.webChannelTransport, function (channel) {
      api = channel.objects.opencc;
      api.contextChanged.connect(function (text) {
        var context = null;
        try { context = JSON.parse(text); } catch (e) { context = null; }
        listeners.slice().forEach(function (fn) {
          try { fn(context); } catch (e) { console.error(e); }
        });
        document.dispatchEvent(new CustomEvent("opencc:context", {detail: context}));
      });
      resolve();
      document.dispatchEvent(new CustomEvent("opencc:ready"));
    });
  });
  function command(cmd) {
    var text = typeof cmd === "string" ? cmd : JSON.stringify(cmd);
    return ready.then(function () {
      return new Promise(function (resolve) {
        api.command(text, function (answer) {
          try { resolve(JSON.parse(answer)); } catch (e) {
            resolve({ok: false, error: {code: "bad_json", message: "unreadable answer"}});
          }
        });
      });
    });
  }
  window.opencc = Object.freeze({
    ready: ready,
    command: command,
    context: function () {
      return command({type: "context"}).then(function (r) { return r.ok ? r.context : null; });
    },
    dial: function (number) { return command({type: "dial", number: String(number)}); },
    openPanel: function (key, path) { return command({type: "open_panel", key: key, path: path}); },
    closeWork: function (callId, notes, category) {
      return command({type: "close_work", call_id: callId, notes: notes || "", category: category || ""});
    },
    onContext: function (fn) { listeners.push(fn); }
  });
})();
