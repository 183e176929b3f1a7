/* idproof web SDK: Idproof.open({url, mode: "modal" | "redirect" | "embed", container,
   onStep, onComplete, onCancel, onError}). Messages are accepted only from idproof's own
   origin (the origin of `url`) and only from the frame this call opened; they carry the
   session id and status, never personal data. Closing (the close button, Escape, or
   handle.close()) asks the hosted page first: on a capture page the person confirms and the
   server records the cancel (status `cancelled`) before onCancel runs. */
(function (root) {
  "use strict";

  function noop() {}

  function open(options) {
    var opts = options || {};
    if (!opts.url) { throw new Error("Idproof.open: url is required"); }
    var mode = opts.mode || "modal";
    var onStep = opts.onStep || noop;
    var onComplete = opts.onComplete || noop;
    var onCancel = opts.onCancel || noop;
    var onError = opts.onError || noop;
    var idproofOrigin = new URL(opts.url, root.location.href).origin;
    // Tells the hosted page which of the client's registered origins is the caller.
    var target = opts.url + (opts.url.indexOf("#") < 0 ? "#" : "&") + "idproof-origin=" +
      encodeURIComponent(root.location.origin);

    if (mode === "redirect") {
      root.location.assign(target);
      return { close: noop };
    }
    if (mode !== "modal" && mode !== "embed") {
      throw new Error("Idproof.open: mode must be modal, redirect or embed");
    }

    var doc = root.document;
    var frame = doc.createElement("iframe");
    frame.src = target;
    frame.title = opts.title || "Identity verification";
    frame.setAttribute("allow", "camera " + idproofOrigin);
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.height = mode === "modal" ? "100%" : (opts.height || "640px");

    var overlay = null;
    var closed = false;
    var completed = null;   // the final screen's info, reported once the person closes it
    var answered = false;   // the hosted page has spoken: it can handle a close request
    var pending = null;     // the timer of a close request the page has not answered yet
    var opener = doc.activeElement;
    function close() {
      if (closed) { return; }
      closed = true;
      if (pending) { root.clearTimeout(pending); }
      root.removeEventListener("message", listener);
      doc.removeEventListener("keydown", onKey, true);
      if (overlay && overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
      else if (frame.parentNode) { frame.parentNode.removeChild(frame); }
      if (opener && opener.focus) { opener.focus(); }
    }
    function finish(info) {
      close();
      if (completed) { onComplete(completed); } else { onCancel(info); }
    }
    // Ask the hosted page: it shows its cancel question, or says "closed". A page that never
    // answered (it failed to load) or does not answer in time is simply closed.
    function requestClose() {
      if (closed) { return; }
      if (!answered || !frame.contentWindow) {
        finish({ sessionId: "", status: "", code: "not_loaded" });
        return;
      }
      frame.contentWindow.postMessage({ source: "idproof-sdk", type: "close" }, idproofOrigin);
      if (pending) { root.clearTimeout(pending); }
      pending = root.setTimeout(function () {
        finish({ sessionId: "", status: "", code: "no_answer" });
      }, 3000);
    }
    function onKey(event) {
      if (event.key === "Escape" && mode === "modal") { event.preventDefault(); requestClose(); }
    }

    function listener(event) {
      if (event.origin !== idproofOrigin || event.source !== frame.contentWindow) { return; }
      var data = event.data;
      if (!data || data.source !== "idproof" || typeof data.type !== "string") { return; }
      var info = { sessionId: String(data.session_id || ""), status: String(data.status || "") };
      answered = true;
      if (pending) { root.clearTimeout(pending); pending = null; }
      if (data.type === "step") {
        info.page = String(data.page || "");
        onStep(info);
      } else if (data.type === "complete") {
        // The person reads the final screen first: a modal reports it when they close it.
        completed = info;
        if (mode !== "modal") { onComplete(info); }
      } else if (data.type === "closed") {
        if (mode === "modal") { finish(info); }
      } else if (data.type === "cancel") {
        close();
        onCancel(info);
      } else if (data.type === "error") {
        info.code = String(data.code || "error");
        onError(info);
      }
    }
    root.addEventListener("message", listener);
    doc.addEventListener("keydown", onKey, true);

    if (mode === "modal") {
      overlay = doc.createElement("div");
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-label", frame.title);
      overlay.style.cssText = "position:fixed;inset:0;z-index:2147483000;" +
        "background:rgba(0,0,0,.5);display:flex;align-items:center;justify-content:center";
      var box = doc.createElement("div");
      box.style.cssText = "display:flex;flex-direction:column;background:#fff;" +
        "width:min(100%,480px);height:min(100%,760px);border-radius:8px;overflow:hidden";
      // The close button sits in a bar of its own above the frame: it covers nothing.
      var bar = doc.createElement("div");
      bar.style.cssText = "display:flex;justify-content:flex-end;flex:none;" +
        "border-bottom:1px solid #d0d7de";
      var shut = doc.createElement("button");
      shut.type = "button";
      shut.textContent = "\u00d7";
      shut.setAttribute("aria-label", opts.closeLabel || "Close");
      shut.style.cssText = "font-size:24px;background:#fff;border:0;cursor:pointer;" +
        "min-width:44px;min-height:44px";
      shut.addEventListener("click", requestClose);
      bar.appendChild(shut);
      box.appendChild(bar);
      frame.style.height = "auto";
      frame.style.flex = "1 1 auto";
      box.appendChild(frame);
      overlay.appendChild(box);
      doc.body.appendChild(overlay);
      frame.focus();
    } else {
      var container = typeof opts.container === "string"
        ? doc.querySelector(opts.container) : opts.container;
      if (!container) { throw new Error("Idproof.open: embed mode needs a container"); }
      container.appendChild(frame);
    }
    frame.addEventListener("error", function () {
      onError({ sessionId: "", status: "", code: "load_failed" });
    });
    // A page that loaded but never spoke (an invalid link, which names no client origin to
    // speak to, or a network error page) is reported, not left blank without a word.
    frame.addEventListener("load", function () {
      root.setTimeout(function () {
        if (!answered && !closed) { onError({ sessionId: "", status: "", code: "no_answer" }); }
      }, 5000);
    });
    return { close: requestClose };
  }

  root.Idproof = { open: open, version: "1" };
}(window));
