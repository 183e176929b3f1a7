/* idproof web SDK: Idproof.open({url, mode: "modal" | "redirect" | "embed", container,
   onComplete, onCancel, onError}). Messages are accepted only from idproof's own origin (the
   origin of `url`) and only from the frame this call opened; they carry the session id and
   status, never personal data. */
(function (root) {
  "use strict";

  function noop() {}

  function open(options) {
    var opts = options || {};
    if (!opts.url) { throw new Error("Idproof.open: url is required"); }
    var mode = opts.mode || "modal";
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
    function close() {
      if (closed) { return; }
      closed = true;
      root.removeEventListener("message", listener);
      if (overlay && overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
      else if (frame.parentNode) { frame.parentNode.removeChild(frame); }
    }

    function listener(event) {
      if (event.origin !== idproofOrigin || event.source !== frame.contentWindow) { return; }
      var data = event.data;
      if (!data || data.source !== "idproof" || typeof data.type !== "string") { return; }
      var info = { sessionId: String(data.session_id || ""), status: String(data.status || "") };
      if (data.type === "complete") {
        if (mode === "modal") { close(); }
        onComplete(info);
      } else if (data.type === "cancel") {
        if (mode === "modal") { close(); }
        onCancel(info);
      } else if (data.type === "error") {
        info.code = String(data.code || "error");
        onError(info);
      }
    }
    root.addEventListener("message", listener);

    if (mode === "modal") {
      overlay = doc.createElement("div");
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-label", frame.title);
      overlay.style.cssText = "position:fixed;inset:0;z-index:2147483000;" +
        "background:rgba(0,0,0,.5);display:flex;align-items:center;justify-content:center";
      var box = doc.createElement("div");
      box.style.cssText = "position:relative;background:#fff;width:min(100%,480px);" +
        "height:min(100%,760px);border-radius:8px;overflow:hidden";
      var shut = doc.createElement("button");
      shut.type = "button";
      shut.textContent = "\u00d7";
      shut.setAttribute("aria-label", opts.closeLabel || "Close");
      shut.style.cssText = "position:absolute;top:4px;right:4px;z-index:1;font-size:24px;" +
        "background:#fff;border:0;cursor:pointer;min-width:44px;min-height:44px";
      shut.addEventListener("click", function () { close(); onCancel({ sessionId: "", status: "" }); });
      box.appendChild(shut);
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
    return { close: close };
  }

  root.Idproof = { open: open, version: "1" };
}(window));
