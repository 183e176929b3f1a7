/* idproof hosted pages: SDK messages, closing, forms, waiting and following progress (the
   camera steps are in capture.js). Dependency-free; from our own origin (the CSP allows no
   inline script). */
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page") || "";
  var csrf = body.getAttribute("data-csrf") || "";
  var sessionId = body.getAttribute("data-session") || "";
  var status = body.getAttribute("data-status") || "";

  // -- messages to the integrating page (web SDK) ------------------------------------------
  function parentOrigin() {
    var allowed = (body.getAttribute("data-origins") || "").split(" ").filter(Boolean);
    var wanted = null;
    try {
      var m = /[#&]idproof-origin=([^&]+)/.exec(location.hash);
      if (m) { sessionStorage.setItem("idproof-origin", decodeURIComponent(m[1])); }
      wanted = sessionStorage.getItem("idproof-origin");
    } catch (e) { wanted = null; }
    if (wanted && allowed.indexOf(wanted) >= 0) { return wanted; }
    return allowed.length === 1 ? allowed[0] : null;
  }
  function notify(type, extra) {
    var target = window.parent !== window ? window.parent : window.opener;
    var origin = parentOrigin();
    if (!target) { return; }
    var msg = { source: "idproof", type: type, session_id: sessionId, status: status };
    if (extra) { for (var k in extra) { msg[k] = extra[k]; } }
    if (origin) { target.postMessage(msg, origin); }  // only to the client's registered origin
    // A window opened by our own hand-off frame: that frame relays to the integrating page.
    if (target === window.opener) {
      try { target.postMessage(msg, location.origin); } catch (e) { /* opener gone */ }
    }
  }
  function relay(msg) {  // from our hand-off window to the integrating page, unchanged
    var origin = parentOrigin();
    if (window.parent !== window && origin) { window.parent.postMessage(msg, origin); }
  }
  var pageEvent = body.getAttribute("data-event") || "";
  if (page === "done") { notify("complete"); }
  else if (pageEvent === "cancel") { notify("cancel"); }
  else if (pageEvent.indexOf("error:") === 0) { notify("error", { code: pageEvent.slice(6) }); }
  else if ((page === "message" && status) || page === "ended") {
    notify("error", { code: "ended" });
  }
  else if (page) { notify("step", { page: page }); }

  // -- closing: the SDK's close button and Escape ask here first --------------------------
  // On a capture page the person confirms on the cancel page, and the cancel is recorded on
  // the server (status `cancelled`); elsewhere (final screen, waiting) nothing is cancelled
  // and the SDK is told it may close.
  var OPEN_PAGES = ["consent", "document", "selfie", "liveness"];
  function askToClose() {
    if (page === "handoff" && handoffWindow && !handoffWindow.closed) {
      // The flow runs in the hand-off window: it asks the person there.
      handoffWindow.postMessage({ source: "idproof-sdk", type: "close" }, location.origin);
      return;
    }
    if (OPEN_PAGES.indexOf(page) >= 0 && csrf) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = "/verify/s/cancel";
      [["csrf_token", csrf], ["via", window.parent !== window ? "sdk" : "page"]]
        .forEach(function (pair) {
          var input = document.createElement("input");
          input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
          form.appendChild(input);
        });
      body.appendChild(form);
      form.submit();
    } else if (page === "cancel") {
      var back = document.getElementById("cancel-back");
      if (back) { back.focus(); }
    } else {
      notify("closed");
    }
  }
  var framed = window.parent !== window && parentOrigin() !== null;
  // A cross-site frame cannot keep our cookie: its hand-off page opens the flow in a window
  // of its own (top level, first-party) and relays that window's messages to the SDK.
  var handoffWindow = null;
  if (page === "handoff") {
    var openLink = document.getElementById("handoff-open");
    if (openLink) {
      openLink.addEventListener("click", function (event) {
        var origin = parentOrigin();
        var url = openLink.getAttribute("href") +
          (origin ? "#idproof-origin=" + encodeURIComponent(origin) : "");
        var opened = window.open(url, "idproof-verification", "popup=yes,width=480,height=760");
        if (!opened) { return; }  // blocked: the plain link opens a tab instead
        event.preventDefault();
        handoffWindow = opened;
        var waiting = document.getElementById("handoff-waiting");
        if (waiting) { waiting.hidden = false; }
      });
    }
    window.addEventListener("message", function (event) {
      if (event.origin !== location.origin || !handoffWindow ||
          event.source !== handoffWindow) { return; }
      var data = event.data;
      if (data && data.source === "idproof") { relay(data); }
    });
  }
  if (window.parent === window && window.opener) {
    // Our own hand-off frame asks this window to close (the SDK's close button, Escape).
    window.addEventListener("message", function (event) {
      if (event.source !== window.opener || event.origin !== location.origin) { return; }
      var data = event.data;
      if (data && data.source === "idproof-sdk" && data.type === "close") {
        window.focus();
        askToClose();
      }
    });
    var popupClose = document.getElementById("sdk-close");
    if (popupClose) {
      popupClose.hidden = false;
      popupClose.addEventListener("click", function () { notify("closed"); window.close(); });
    }
  }
  if (framed) {
    window.addEventListener("message", function (event) {
      if (event.source !== window.parent || event.origin !== parentOrigin()) { return; }
      var data = event.data;
      if (data && data.source === "idproof-sdk" && data.type === "close") { askToClose(); }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); askToClose(); }
    });
    var closeButton = document.getElementById("sdk-close");
    if (closeButton) {
      closeButton.hidden = false;
      closeButton.addEventListener("click", function () { notify("closed"); });
    }
  }

  // A page of its own (the cancel question) starts at its heading.
  var heading = document.querySelector("h1[tabindex='-1']");
  if (heading && !document.getElementById("error")) { heading.focus(); }

  // An error or a retake notice is read out first and gets the keyboard focus.
  var alertBox = document.getElementById("error") || document.getElementById("retry");
  if (alertBox) { alertBox.setAttribute("tabindex", "-1"); alertBox.focus(); }

  // The back side only for the document types that have one.
  var typeSel = document.getElementById("document_type");
  var backField = document.getElementById("back-field");
  if (typeSel && backField) {
    var backTypes = (typeSel.getAttribute("data-back-types") || "").split(" ");
    var sync = function () {
      var needed = backTypes.indexOf(typeSel.value) >= 0;
      backField.hidden = !needed;
      backField.querySelector("input").required = needed;
    };
    typeSel.addEventListener("change", sync);
    sync();
  }

  // Only the countries that issue the chosen type ("Other / not listed" always stays).
  var countrySel = document.getElementById("country");
  if (typeSel && countrySel) {
    var narrow = function () {
      Array.prototype.forEach.call(countrySel.options, function (opt) {
        var types = (opt.getAttribute("data-types") || "").split(" ");
        var shown = !opt.value || types.indexOf(typeSel.value) >= 0;
        opt.hidden = !shown;
        opt.disabled = !shown;
        if (!shown && opt.selected) { countrySel.value = ""; }
      });
    };
    typeSel.addEventListener("change", narrow);
    narrow();
  }

  // Forms: one submit only (the second click of an impatient person changes nothing).
  // A photo being sent says so, on screen and to screen readers, while the server checks it.
  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { setTimeout(function () { button.disabled = true; }, 0); }
      var checking = form.querySelector("#upload-status");
      if (checking && form.querySelector("input[type=file]")) {
        checking.textContent = checking.getAttribute("data-text");
      }
    });
  });

  // -- waiting: ask until the result is there --------------------------------------------
  if (page === "waiting" || page === "submit") {
    var poll = function () {
      fetch("/verify/s/status", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.page !== "waiting" && s.page !== "submit") { location.assign("/verify/s"); }
          else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 700);
  }

  // -- phone hand-off: the QR page waits for the phone, then this device only follows ------
  if (page === "handoff_qr" || page === "watch") {
    var stepText = document.getElementById("watch-step");
    var follow = function () {
      fetch("/verify/s/status", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) { setTimeout(follow, 4000); return; }
          if (page === "handoff_qr" && s.handed_off) { location.assign("/verify/s"); return; }
          if (s.page === "done" || s.page === "ended") { location.assign("/verify/s"); return; }
          if (stepText) {
            var name = stepText.getAttribute("data-step-" + s.page) || "";
            var now = stepText.getAttribute("data-now") || "";
            if (name && now) { stepText.textContent = now.replace("{step}", name); }
          }
          setTimeout(follow, 1500);
        })
        .catch(function () { setTimeout(follow, 4000); });
    };
    setTimeout(follow, 1000);
  }

  // While the document is still being read, a later step's page watches for its result: a
  // document the workflow declines ends the flow at once, one to retake is asked for now.
  if ((page === "selfie" || page === "liveness") && body.getAttribute("data-processing")) {
    var watch = function () {
      fetch("/verify/s/status", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          // The document's result is in: an early stop, or a retake of the document (its
          // reason shown on that step at once). Not while the camera is in use.
          var busy = document.querySelector(".camera, .preview, #liveness.active");
          if (s && s.page !== page && !busy) { location.assign("/verify/s"); }
          else if (s && (s.processing || s.page !== page)) { setTimeout(watch, 4000); }
        })
        .catch(function () { setTimeout(watch, 8000); });
    };
    setTimeout(watch, 3000);
  }
}());
