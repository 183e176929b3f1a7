/* idproof hosted pages: guided capture on the person's device (the liveness check is in
   liveness.js, on top of the camera helpers exported here).
   On-device checks (sharpness, glare, light, the document's edges in the frame) and, for a
   selfie, the server's face detector (the pose probe: is one face there, centred, at a good
   distance) guide the person and take the photo by themselves when all pass; a preview asks
   "use this photo / retake". They only help: the server checks every image again.
   Dependency-free; loaded from our own origin (the CSP allows no inline script). */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf") || "";
  var strings = document.getElementById("camera-strings");
  function str(name) { return strings ? strings.getAttribute("data-" + name) || "" : ""; }

  // Thresholds on a 320-pixel-wide grey copy of the frame (tuned on synthetic documents and
  // photos; lenient on purpose, since the server decides).
  var Q = { width: 320, sharpDoc: 60, sharpFace: 25, glare: 0.02, dark: 45, edge: 14,
            skin: 0.22, centre: 0.14, stableRuns: 3, manualAfterMs: 4000, everyMs: 250 };

  // -- analysis (pure: pixels in, measures and problems out) ------------------------------
  function analyse(rgba, w, h, kind) {
    var grey = new Float32Array(w * h);
    var i, x, y, sum = 0;
    for (i = 0; i < w * h; i += 1) {
      grey[i] = 0.299 * rgba[i * 4] + 0.587 * rgba[i * 4 + 1] + 0.114 * rgba[i * 4 + 2];
      sum += grey[i];
    }
    // The region inside the guide: the document frame or the face oval's box.
    var x0 = Math.round(w * (kind === "face" ? 0.28 : 0.08));
    var x1 = Math.round(w * (kind === "face" ? 0.72 : 0.92));
    var y0 = Math.round(h * (kind === "face" ? 0.10 : 0.12));
    var y1 = Math.round(h * (kind === "face" ? 0.90 : 0.88));
    // Glare is a clipped spot much brighter than the rest: a white page is not glare.
    var hist = new Uint32Array(256), total = 0, median = 0, seen = 0;
    for (y = y0; y < y1; y += 1) {
      for (x = x0; x < x1; x += 1) { hist[grey[y * w + x] | 0] += 1; total += 1; }
    }
    while (median < 255 && seen + hist[median] < total / 2) { seen += hist[median]; median += 1; }
    var spot = Math.max(250, median + 40);
    var n = 0, lsum = 0, lsq = 0, bright = 0, skin = 0, sx = 0, sy = 0;
    for (y = y0 + 1; y < y1 - 1; y += 1) {
      for (x = x0 + 1; x < x1 - 1; x += 1) {
        i = y * w + x;
        var lap = 4 * grey[i] - grey[i - 1] - grey[i + 1] - grey[i - w] - grey[i + w];
        lsum += lap; lsq += lap * lap; n += 1;
        if (grey[i] >= spot) { bright += 1; }
        if (kind === "face" && isSkin(rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2])) {
          skin += 1; sx += x; sy += y;
        }
      }
    }
    var m = { mean: sum / (w * h), sharpness: lsq / n - (lsum / n) * (lsum / n),
              glare: bright / n };
    if (kind === "face") {
      m.skin = skin / n;
      m.offset = skin ? Math.max(Math.abs(sx / skin / w - 0.5), Math.abs(sy / skin / h - 0.5))
                      : 1;
    } else {
      m.edges = [edgeAt(grey, w, h, "x", x0), edgeAt(grey, w, h, "x", x1),
                 edgeAt(grey, w, h, "y", y0), edgeAt(grey, w, h, "y", y1)];
    }
    return m;
  }
  function isSkin(r, g, b) {
    var cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    var cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
    return cb > 77 && cb < 127 && cr > 133 && cr < 173;
  }
  // The strongest straight edge near one side of the guide: the mean step across a line,
  // over the middle 60 % of that side, searched within 10 % of the frame on either side.
  function edgeAt(grey, w, h, axis, at) {
    var span = Math.round((axis === "x" ? w : h) * 0.10);
    var best = 0, p, q, from, to, s, k;
    if (axis === "x") { from = Math.round(h * 0.2); to = Math.round(h * 0.8); }
    else { from = Math.round(w * 0.2); to = Math.round(w * 0.8); }
    for (p = Math.max(1, at - span); p < Math.min((axis === "x" ? w : h) - 2, at + span); p += 1) {
      s = 0;
      for (q = from; q < to; q += 1) {
        k = axis === "x" ? q * w + p : p * w + q;
        s += Math.abs(grey[k + (axis === "x" ? 2 : 2 * w)] - grey[k]);
      }
      best = Math.max(best, s / (to - from));
    }
    return best;
  }
  function problems(m, kind) {
    var out = [];
    if (m.mean < Q.dark) { out.push("dark"); }
    if (m.sharpness < (kind === "face" ? Q.sharpFace : Q.sharpDoc)) { out.push("blurry"); }
    if (kind !== "face" && m.glare > Q.glare) { out.push("glare"); }
    if (kind !== "face" && m.edges.some(function (e) { return e < Q.edge; })) {
      out.push("frame");
    }
    if (kind === "face" && (m.skin < Q.skin || m.offset > Q.centre)) { out.push("face"); }
    return out;
  }
  function measure(source, sw, sh, kind) {
    var w = Q.width, h = Math.max(1, Math.round(sh * Q.width / sw));
    var canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0, w, h);
    var m = analyse(ctx.getImageData(0, 0, w, h).data, w, h, kind);
    m.problems = problems(m, kind);
    window.idproofQuality = m;  // measures of the image only, for tests; never sent
    return m;
  }

  // -- camera helpers -----------------------------------------------------------------------
  function openCamera(facing) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error("no camera"));
    }
    return navigator.mediaDevices.getUserMedia({
      video: { facingMode: facing, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false
    });
  }
  function stop(stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  function grab(video, quality) {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
  }
  function playing(video, stream) {
    video.srcObject = stream;
    return video.play().then(function () {
      if (video.videoWidth) { return; }
      return new Promise(function (r) { video.addEventListener("loadeddata", r, { once: true }); });
    });
  }
  function fullscreen(el) {  // phones only: the view fills the screen while capturing
    if (window.matchMedia("(max-width: 40rem)").matches && el.requestFullscreen) {
      el.requestFullscreen().catch(function () { /* refused: the CSS layout still fills */ });
    }
  }
  function leaveFullscreen() {
    if (document.fullscreenElement && document.exitFullscreen) {
      document.exitFullscreen().catch(function () { /* already out */ });
    }
  }

  // -- the pose probe: the server's face detector on one small frame --------------------------
  // The same detector and pose rules that judge the selfie and the video afterwards answer,
  // for one ~480-pixel JPEG, whether one face is there and centred and which movement the
  // head makes. It only guides; the server processes the frame in memory and keeps nothing.
  // When it cannot answer (refused, rate-limited, offline) `probe` gives null and the page
  // falls back to its own checks: skin tones in the oval, the picture moving for the video.
  var PROBE = { side: 480, quality: 0.7 };
  var probeOff = false;  // set once the probe failed: the fallback for the rest of the page
  function probe(source, sw, sh, action, baseline) {
    if (probeOff) { return Promise.resolve(null); }
    var scale = Math.min(1, PROBE.side / Math.max(sw, sh));
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(sw * scale));
    canvas.height = Math.max(1, Math.round(sh * scale));
    canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) {
      canvas.toBlob(resolve, "image/jpeg", PROBE.quality);
    }).then(function (blob) {
      var form = new FormData();
      form.append("frame", blob, "probe.jpg");
      if (action) { form.append("action", action); }
      if (baseline) { form.append("baseline", JSON.stringify(baseline)); }
      return fetch("/verify/s/pose", { method: "POST", body: form, credentials: "same-origin",
                                       headers: { "X-CSRF-Token": csrf } });
    }).then(function (r) {
      if (!r.ok) { throw new Error("probe " + r.status); }
      return r.json();
    }).catch(function () { probeOff = true; return null; });
  }
  // The probe's framing problem as one of the guidance texts ("face", "closer", "farther").
  function faceProblem(answer) {
    if (!answer.problem) { return null; }
    return { too_far: "closer", too_close: "farther" }[answer.problem] || "face";
  }
  // A fresh probe answer replaces the skin-tone guess about the face (`seen`: the answer's
  // problem and time; null or stale: the guess stands).
  function withProbe(m, seen) {
    m.faceBy = "device";
    if (seen && Date.now() - seen.at <= 1500) {
      m.problems = m.problems.filter(function (p) { return p !== "face"; });
      if (seen.problem) { m.problems.push(seen.problem); }
      m.faceBy = "server";
    }
    window.idproofQuality = m;
    return m;
  }
  // For a chosen file only a missing or second face counts: where the face sits in a photo
  // matters to the camera's oval, not to the server's checks.
  function answered(a, file) {
    if (!a) { return null; }
    var framingOnly = file && ["no_face", "multiple_faces"].indexOf(a.problem) < 0;
    return { problem: framingOnly ? null : faceProblem(a), at: Date.now() };
  }
  window.idproofCamera = { str: str, csrf: csrf, openCamera: openCamera, stop: stop,
                           playing: playing, fullscreen: fullscreen, probe: probe,
                           leaveFullscreen: leaveFullscreen, faceProblem: faceProblem,
                           probeOff: function () { return probeOff; } };

  // -- document and selfie: guided capture, preview, then the form's file input -------------
  var tpl = document.getElementById("camera-template");
  Array.prototype.forEach.call(document.querySelectorAll("fieldset.capture"), function (fs) {
    var input = fs.querySelector("input[type=file]");
    if (!tpl || !input || typeof DataTransfer === "undefined") { return; }
    var kind = fs.getAttribute("data-kind") === "face" ? "face" : "document";
    var start = document.createElement("button");
    start.type = "button";
    start.className = "secondary camera-start";
    start.textContent = str("start");
    fs.appendChild(start);
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    status.className = "camera-status";
    fs.appendChild(status);

    function useBlob(blob) {
      var dt = new DataTransfer();
      dt.items.add(new File([blob], (input.name || "photo") + ".jpg", { type: "image/jpeg" }));
      input.files = dt.files;
      status.textContent = str("taken");
      start.textContent = str("retake");
    }
    function preview(blob, found, onRetake) {
      var old = fs.querySelector(".preview");
      if (old) { old.parentNode.removeChild(old); }
      var box = document.createElement("div");
      box.className = "preview";
      var img = document.createElement("img");
      img.alt = str("preview-alt");
      img.src = URL.createObjectURL(blob);
      if (kind === "face") { img.className = "mirrored"; }
      var text = document.createElement("p");
      text.textContent = found.length ? str("file-warning") + " " +
        found.map(function (p) { return str("q-" + p); }).join(" ") : str("preview");
      if (found.length) { text.className = "alert"; }
      var use = document.createElement("button");
      use.type = "button"; use.className = "use-photo"; use.textContent = str("use");
      var again = document.createElement("button");
      again.type = "button"; again.className = "secondary retake"; again.textContent = str("retake");
      box.appendChild(img); box.appendChild(text); box.appendChild(use); box.appendChild(again);
      fs.appendChild(box);
      use.focus();
      use.addEventListener("click", function () {
        useBlob(blob);
        box.parentNode.removeChild(box);
        var submit = fs.form && fs.form.querySelector("button[type=submit]");
        if (submit) { submit.focus(); }
      });
      again.addEventListener("click", function () {
        box.parentNode.removeChild(box);
        input.value = "";
        onRetake();
      });
    }

    function startCamera() {
      var old = fs.querySelector(".camera");
      if (old) { old.parentNode.removeChild(old); }
      var view = tpl.content.firstElementChild.cloneNode(true);
      var guide = view.querySelector(".guide");
      if (kind === "face") { guide.className = "guide oval"; view.classList.add("face"); }
      var hint = view.querySelector(".guide-text");
      hint.textContent = fs.getAttribute("data-guide");
      fs.appendChild(view);
      var video = view.querySelector("video");
      var take = view.querySelector(".take");
      take.disabled = true;  // the manual button comes after a few seconds
      var stream = null, timer = null, runs = 0, said = "", done = false;
      var seen = null, asking = false;  // the pose probe's last answer; one asked at a time
      function ask() {
        if (done || kind !== "face" || asking) { return; }
        asking = true;
        probe(video, video.videoWidth, video.videoHeight).then(function (a) {
          asking = false;
          seen = answered(a);
        });
      }
      function look() {
        var m = measure(video, video.videoWidth, video.videoHeight, kind);
        return kind === "face" ? withProbe(m, seen) : m;
      }
      function finish(found) {
        if (done) { return; }
        done = true;
        clearTimeout(timer);
        grab(video, 0.92).then(function (blob) {
          stop(stream);
          leaveFullscreen();
          view.parentNode.removeChild(view);
          preview(blob, found, startCamera);
        });
      }
      function tick() {
        if (done) { return; }
        ask();
        var m = look();
        var first = m.problems[0];
        var say = first ? str("q-" + first) : str("q-hold");
        if (say !== said) { hint.textContent = say; said = say; }
        guide.classList.toggle("ok", !first);
        // A selfie waits for the server's word on the face while the probe is there.
        var waiting = kind === "face" && m.faceBy !== "server" && !probeOff;
        runs = first || waiting ? 0 : runs + 1;
        if (runs >= Q.stableRuns) { finish([]); return; }  // auto-capture
        timer = setTimeout(tick, Q.everyMs);
      }
      openCamera(kind === "face" ? "user" : "environment").then(function (s) {
        stream = s;
        return playing(video, s);
      }).then(function () {
        fullscreen(view);
        setTimeout(function () { take.disabled = false; }, Q.manualAfterMs);
        take.addEventListener("click", function () {
          finish(look().problems);
        }, { once: true });
        tick();
      }).catch(function () {
        if (stream) { stop(stream); }
        if (view.parentNode) { view.parentNode.removeChild(view); }
        status.textContent = str("unavailable");
        input.focus();
      });
    }
    start.addEventListener("click", startCamera);

    // The same checks on a chosen file: the preview says what may fail before it is sent.
    input.addEventListener("change", function (event) {
      if (!event.isTrusted || !input.files || !input.files[0] || !window.createImageBitmap) {
        return;
      }
      var file = input.files[0];
      createImageBitmap(file).then(function (bitmap) {
        var m = measure(bitmap, bitmap.width, bitmap.height, kind);
        if (kind !== "face") { return m.problems; }
        status.textContent = str("checking");  // announced: the face check takes a moment
        return probe(bitmap, bitmap.width, bitmap.height).then(function (a) {
          status.textContent = "";
          return withProbe(m, answered(a, true)).problems;
        });
      }).then(function (found) {
        preview(file, found, function () { input.focus(); });
      }).catch(function () { /* not decodable here (HEIC): the server says */ });
    });
  });

}());
