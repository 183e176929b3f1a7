/* The example app's page: ask our backend for a session, then open it with the idproof SDK. */
(function () {
  "use strict";
  var result = document.getElementById("result");
  function log(text) { result.textContent = (result.textContent + "\n" + text).trim(); }
  function start(mode) {
    fetch("/start", { method: "POST" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        Idproof.open({
          url: s.url,
          mode: mode,
          container: "#idproof-container",
          onComplete: function (e) { log("complete " + e.sessionId + " " + e.status); },
          onCancel: function (e) { log("cancelled " + e.sessionId); },
          onError: function (e) { log("error " + e.code); }
        });
      });
  }
  ["modal", "embed", "redirect"].forEach(function (mode) {
    document.getElementById("verify-" + mode).addEventListener("click", function () { start(mode); });
  });
}());
