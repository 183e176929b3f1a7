/* idproof hosted pages: the liveness check on the person's device (after capture.js, whose
   camera helpers and pose probe it uses). The page lists the movements with a progress bar
   and ticks each one when the server's pose probe says the head has reached it; the next
   one comes as soon as the tick is earned (the person's own pace, within the challenge's
   window). The probe only guides: the frames sent at the end are judged again on the server.
   Without the probe (refused, rate-limited, offline) a movement is ticked when the picture
   moved and settled again, as a fallback. Dependency-free; from our own origin. */
(function () {
  "use strict";
  var cam = window.idproofCamera;
  var live = document.getElementById("liveness");
  if (!cam || !live) { return; }
  var str = cam.str;
  var texts = {};
  (live.getAttribute("data-actions-text") || "").split("|").forEach(function (pair) {
    var i = pair.indexOf("=");
    if (i > 0) { texts[pair.slice(0, i)] = pair.slice(i + 1); }
  });
  var instruction = document.getElementById("instruction");
  var startBtn = document.getElementById("liveness-start");
  var video = live.querySelector("video");
  var list = document.getElementById("liveness-steps");
  var bar = document.getElementById("liveness-progress");
  var count = document.getElementById("liveness-count");
  var sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };
  // Frames every ~120 ms, a probe at most every 250 ms (one at a time). The first step sends
  // 3 frames (the neutral pose the server measures the movements from), each movement at
  // most `cap` (its last ones; older ones are the way there) and at least 4: 11-40 in all.
  // A step not reached in time is left unticked and the next comes: at most 6 s + 3 x 7 s,
  // inside the server's 30 s span and the challenge's 90 s.
  var L = { everyMs: 110, probeMs: 250, base: 3, least: 4, after: 2, lookMs: 6000,
            actMs: 7000, total: 40 };
  // What happened, for tests (no image data): the mode and each step's outcome.
  var report = window.idproofLiveness = { mode: "probe", probes: 0, steps: [] };

  function snapshot() {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return canvas;
  }
  function jpeg(canvas) {
    return new Promise(function (r) { canvas.toBlob(r, "image/jpeg", 0.85); });
  }
  var small = document.createElement("canvas");
  function motion(canvas, prev) {  // mean grey change against the previous small frame
    small.width = 80; small.height = 60;
    var ctx = small.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(canvas, 0, 0, 80, 60);
    var d = ctx.getImageData(0, 0, 80, 60).data, g = new Float32Array(80 * 60), diff = 0;
    for (var i = 0; i < g.length; i += 1) {
      g[i] = (d[i * 4] + d[i * 4 + 1] + d[i * 4 + 2]) / 3;
      if (prev) { diff += Math.abs(g[i] - prev[i]); }
    }
    return { grey: g, diff: prev ? diff / g.length : 0 };
  }
  function showSteps(actions) {
    list.innerHTML = "";
    actions.forEach(function (a) {
      var li = document.createElement("li");
      li.textContent = texts[a] || a;
      list.appendChild(li);
    });
    list.hidden = false;
    bar.max = actions.length;
    bar.value = 0;
    bar.hidden = false;
  }
  function current(index, total) {
    Array.prototype.forEach.call(list.querySelectorAll("li"), function (li, k) {
      li.classList.toggle("current", k === index);
    });
    bar.value = index;
    if (index < total) {
      count.textContent = str("progress").replace("{n}", index + 1).replace("{total}", total);
    }
  }
  function tick(index) {  // the movement was seen: a tick, said to screen readers too
    var li = list.querySelectorAll("li")[index];
    if (!li || li.querySelector(".tick")) { return; }
    li.classList.add("done");
    var t = document.createElement("span");
    t.className = "tick";
    t.textContent = " \u2713 " + str("action-done");
    li.appendChild(t);
  }

  // One step: frames until the pose is reached (and a few more), or its time is up.
  function step(action, index, ctx) {
    var first = action === "look_straight";
    var kept = [], n = 0, started = Date.now(), asking = false, askedAt = 0, reachedAt = -1;
    var keepFrom = Infinity;  // the frame being asked about and those after it stay
    var prev = null, peak = false, calm = 0, moved = false, said = "", lastPose = null;
    var cap = first ? L.base : ctx.cap;
    function ask(canvas, id) {
      asking = true;
      askedAt = Date.now();
      keepFrom = id;
      report.probes += 1;
      cam.probe(canvas, canvas.width, canvas.height, action, first ? null : ctx.baseline)
        .then(function (a) {
          asking = false;
          keepFrom = reachedAt < 0 ? Infinity : reachedAt;
          if (!a) { report.mode = "motion"; return; }  // the fallback from now on
          if (first) {
            lastPose = a.pose || lastPose;
            var hint = a.problem ? str("q-" + cam.faceProblem(a)) : "";
            var say = (texts[action] || action) + (hint ? " " + hint : "");
            if (say !== said) { instruction.textContent = say; said = say; }
          }
          if (a.reached && reachedAt < 0) {
            reachedAt = keepFrom = id;
            if (first) { ctx.baseline = a.pose; }
            tick(index);
          }
        });
    }
    // The last frame this step needs once the pose is reached: the first step sends the
    // reached frame and the next two (the neutral pose the server measures from), a
    // movement the reached frame, two more, and at least four in all.
    function last() {
      return first ? reachedAt + L.base - 1 : Math.max(reachedAt + L.after, L.least - 1);
    }
    function enough() {
      if (reachedAt >= 0) { return n - 1 >= last(); }
      if (report.mode === "motion") { return moved || n >= cap; }
      return Date.now() - started > (first ? L.lookMs : L.actMs) && n >= cap;
    }
    function sent() {  // at most `cap` frames, the reached one among them
      if (reachedAt < 0) { return kept.slice(-cap); }
      return kept.filter(function (f) {
        return f.id <= last() && (!first || f.id >= reachedAt);
      }).slice(-cap);
    }
    var shoot = function () {
      if (enough()) {
        var out = sent();
        // Not reached in time: the last face seen stands for the neutral pose.
        if (first && !ctx.baseline) { ctx.baseline = lastPose; }
        report.steps.push({ action: action, reached: reachedAt >= 0, moved: moved,
                            frames: out.length });
        return Promise.resolve(out);
      }
      var canvas = snapshot(), id = n;
      n += 1;
      if (report.mode === "motion") {
        var mo = motion(canvas, prev);
        prev = mo.grey;
        if (mo.diff > 6) { peak = true; calm = 0; } else if (peak) { calm += 1; }
        if (peak && calm >= 2 && n >= 4) { moved = true; tick(index); }
      } else if (!asking && reachedAt < 0 && Date.now() - askedAt >= L.probeMs) {
        ask(canvas, id);
      }
      var at = Date.now();  // epoch ms: the server checks them against the challenge
      return jpeg(canvas).then(function (blob) {
        kept.push({ id: id, blob: blob, at: at });
        // Older frames of a movement go (the way there), but not while the server looks
        // at one, nor the reached one and after; a bound holds if an answer is slow.
        while (kept.length > L.total || (kept.length > cap && kept[0].id < keepFrom)) {
          kept.shift();
        }
        return sleep(L.everyMs).then(shoot);
      });
    };
    return shoot();
  }

  function run(challenge) {
    var actions = ["look_straight"].concat(challenge.actions || []);
    var moves = actions.length - 1;
    var ctx = { baseline: null,
                cap: Math.max(L.least, Math.min(12, Math.floor((L.total - L.base) / moves))) };
    var frames = [];
    showSteps(actions);
    instruction.textContent = str("get-ready");
    var chain = sleep(600);
    actions.forEach(function (action, index) {
      chain = chain.then(function () {
        current(index, actions.length);
        instruction.textContent = texts[action] || action;
        return step(action, index, ctx).then(function (kept) {
          frames = frames.concat(kept);
        });
      });
    });
    return chain.then(function () {
      current(actions.length, actions.length);
      return frames;
    });
  }

  startBtn.addEventListener("click", function () {
    startBtn.disabled = true;
    var stream = null, challenge = null;
    report.mode = cam.probeOff() ? "motion" : "probe";
    report.steps = [];
    fetch("/verify/s/challenge", { method: "POST", credentials: "same-origin",
                                   headers: { "X-CSRF-Token": cam.csrf } })
      .then(function (r) { if (!r.ok) { throw new Error("challenge"); } return r.json(); })
      .then(function (c) { challenge = c; return cam.openCamera("user"); })
      .then(function (s) { stream = s; return cam.playing(video, s); })
      .then(function () {
        live.classList.add("active");
        cam.fullscreen(live);
        return run(challenge);
      })
      .then(function (frames) {
        cam.stop(stream);
        cam.leaveFullscreen();
        live.classList.remove("active");
        instruction.textContent = str("sending");
        var form = new FormData();
        form.append("challenge_id", challenge.challenge_id);
        form.append("timestamps", JSON.stringify(frames.map(function (f) { return f.at; })));
        frames.forEach(function (f, i) { form.append("frames", f.blob, "frame-" + i + ".jpg"); });
        return fetch("/verify/s/liveness", { method: "POST", body: form,
                                             credentials: "same-origin",
                                             headers: { "X-CSRF-Token": cam.csrf } });
      })
      // The next page says how it went: the result, or a retry with what to do differently.
      .then(function (r) {
        if (r.ok) { location.assign("/verify/s"); return; }
        throw new Error("refused");  // this try was not accepted: say so, and try again
      })
      .catch(function (err) {
        if (stream) { cam.stop(stream); }
        cam.leaveFullscreen();
        live.classList.remove("active");
        instruction.textContent = str(err && err.message === "refused" ? "failed"
                                                                       : "unavailable");
        startBtn.disabled = false;
        startBtn.focus();
      });
  });
}());
