/* idproof hosted pages: post the device's attributes (collected by /sdk/device.js, loaded
   before this script) to the verification session once per browser session. Runs on the
   capture pages only, after consent; from our own origin (the CSP allows no inline script).
   Nothing comes back: the signals stay on the server. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf") || "";
  var session = body.getAttribute("data-session") || "";
  if (!csrf || !session || typeof window.idproofDevice !== "function" || !window.fetch) {
    return;
  }
  var key = "idproof-device-" + session;
  try { if (sessionStorage.getItem(key)) { return; } } catch (e) { /* no storage: post */ }
  window.idproofDevice().then(function (attrs) {
    return fetch("/verify/s/device", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(attrs)
    });
  }).then(function (response) {
    if (response && response.ok) {
      try { sessionStorage.setItem(key, "1"); } catch (e) { /* sent again next page */ }
      body.setAttribute("data-device-posted", "1");
    }
  }).catch(function () { /* the flow goes on without the device signal */ });
})();
