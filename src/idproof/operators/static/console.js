// Passkey ceremonies for the console forms (no inline script: the CSP forbids it).
// A form with data-options and data-mode ("create" or "get") fetches the options, runs the
// WebAuthn ceremony, puts the credential JSON in its hidden `credential` field and submits.
(function () {
  "use strict";
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    o.challenge = b64urlToBuf(o.challenge);
    o.user.id = b64urlToBuf(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return o;
  }
  function requestOptions(o) {
    o.challenge = b64urlToBuf(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return o;
  }
  function credentialJson(cred) {
    var r = cred.response, out = { id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    return JSON.stringify(out);
  }
  function run(form) {
    var status = form.querySelector(".passkey-status");
    var csrf = form.querySelector("input[name=csrf_token]").value;
    if (!window.PublicKeyCredential) { status.textContent = "This browser does not support passkeys."; return; }
    status.textContent = "Waiting for your passkey…";
    fetch(form.getAttribute("data-options"), { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { if (!r.ok) throw new Error("options " + r.status); return r.json(); })
      .then(function (o) {
        return form.getAttribute("data-mode") === "create"
          ? navigator.credentials.create({ publicKey: creationOptions(o) })
          : navigator.credentials.get({ publicKey: requestOptions(o) });
      })
      .then(function (cred) {
        form.querySelector("input[name=credential]").value = credentialJson(cred);
        form.submit();
      })
      .catch(function () { status.textContent = "The passkey ceremony did not complete. Try again."; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-options]");
    Array.prototype.forEach.call(forms, function (form) {
      var button = form.querySelector("button.passkey");
      if (button) button.addEventListener("click", function () { run(form); });
    });
  });
})();
