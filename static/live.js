// shoplens live try-on: the shade on the camera image, in real time, on the shopper's device.
// Frames go from the camera to MediaPipe Face Mesh (WebAssembly, served by our server) and to the WebGL2
// renderer, all inside this page: no frame, snapshot or landmark is ever sent anywhere.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const i18n = window.shoplensI18n;
  const { LiveRenderer } = window.shoplensLiveRender;
  const SOFTWARE_GL = /swiftshader|llvmpipe|software|softpipe/i;
  const STATS_WINDOW = 30;  // frames the fps and per-frame times are averaged over

  // One Euro filter (Casiez, Roussel & Vogel, CHI 2012): smooths jitter when the face is still, and follows
  // fast moves with little lag, since its cut-off frequency rises with the speed.
  class OneEuro {
    constructor(minCutoff = 1.2, beta = 0.02, derivativeCutoff = 1.0) {
      Object.assign(this, { minCutoff, beta, derivativeCutoff, value: null, speed: null, time: 0 });
    }

    static alpha(cutoff, seconds) {
      const tau = 1 / (2 * Math.PI * cutoff);
      return 1 / (1 + tau / seconds);
    }

    filter(values, time) {
      if (!this.value || this.value.length !== values.length) {
        this.value = Float32Array.from(values);
        this.speed = new Float32Array(values.length);
        this.time = time;
        return this.value;
      }
      const seconds = Math.max((time - this.time) / 1000, 1e-3);
      this.time = time;
      const speedAlpha = OneEuro.alpha(this.derivativeCutoff, seconds);
      for (let i = 0; i < values.length; i++) {
        const speed = (values[i] - this.value[i]) / seconds;
        this.speed[i] += speedAlpha * (speed - this.speed[i]);
        const alpha = OneEuro.alpha(this.minCutoff + this.beta * Math.abs(this.speed[i]), seconds);
        this.value[i] += alpha * (values[i] - this.value[i]);
      }
      return this.value;
    }

    reset() { this.value = null; }
  }

  const state = {
    mode: "photo", config: null, renderer: null, faceMesh: null, stream: null, facing: "user", cameras: 0,
    running: false, frozen: false, busy: false, queued: false, frameWaiting: false, latest: null,
    smoother: new OneEuro(), look: [], frameCanvas: null, context: null, pixels: null, landmarks: null, split: 0,
    stats: { frames: 0, tracked: 0, times: [], landmarkMs: [], renderMs: [] }, drawn: [], loop: 0,
  };

  function status(text, kind = "") {
    $("live-status").textContent = text;
    $("live-status").className = "status" + (kind ? " " + kind : "");
  }

  function setMode(mode) {
    state.mode = mode;
    document.body.dataset.tryonMode = mode;
    $("mode-photo").setAttribute("aria-pressed", String(mode === "photo"));
    $("mode-live").setAttribute("aria-pressed", String(mode === "live"));
    $("photo-mode").hidden = mode !== "photo";
    $("live-mode").hidden = mode !== "live";
    document.dispatchEvent(new CustomEvent("shoplens:tryon-mode", { detail: { mode } }));
  }

  // Back to Photo with a reason the shopper can act on (camera refused, no camera, old browser).
  function fallBack(message) {
    stop();
    setMode("photo");
    const line = $("tryon-status");
    line.textContent = message;
    line.className = "status error";
  }

  async function loadConfig() {
    if (state.config) return state.config;
    const response = await fetch("/api/v1/tryon/live");
    if (!response.ok) throw new Error(i18n.t("live.unavailable"));
    state.config = await response.json();
    return state.config;
  }

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = resolve;
      script.onerror = () => reject(new Error(i18n.t("live.unavailable")));
      document.head.append(script);
    });
  }

  // MediaPipe Face Mesh from our own server. Without a GPU (software WebGL) its CPU (XNNPACK) inference is
  // several times faster than running the model through emulated WebGL.
  async function loadFaceMesh(config) {
    if (state.faceMesh) return state.faceMesh;
    if (!config.face_mesh.available) throw new Error(i18n.t("live.unavailable"));
    const base = config.face_mesh.base_url;
    if (!window.FaceMesh) await loadScript(base + "face_mesh.js");
    const faceMesh = new window.FaceMesh({ locateFile: (file) => base + file });
    faceMesh.setOptions({ maxNumFaces: 1, refineLandmarks: true, minDetectionConfidence: 0.5,
                          minTrackingConfidence: 0.5, selfieMode: false,
                          useCpuInference: SOFTWARE_GL.test(state.renderer.rendererName()) });
    faceMesh.onResults((results) => { state.latest = results.multiFaceLandmarks && results.multiFaceLandmarks[0]; });
    await faceMesh.initialize();
    state.faceMesh = faceMesh;
    return faceMesh;
  }

  async function prepare() {
    if (typeof WebAssembly !== "object" || !LiveRenderer.supported()) throw new Error(i18n.t("live.no_webgl"));
    const config = await loadConfig();
    if (!state.renderer) state.renderer = new LiveRenderer($("live-canvas"), config);
    if (!state.frameCanvas) {
      // The grabbed frame (a 2D canvas, hidden: it sizes the stage); the WebGL canvas over it shows the frame
      // with the look.
      state.frameCanvas = $("live-frame");
      state.context = state.frameCanvas.getContext("2d", { willReadFrequently: true });
    }
    await loadFaceMesh(config);
  }

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error(i18n.t("live.no_camera"));
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        audio: false, video: { facingMode: state.facing, width: { ideal: 640 }, height: { ideal: 480 } } });
    } catch (error) {
      const refused = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      throw new Error(i18n.t(refused ? "live.camera_refused" : "live.no_camera"));
    }
    const video = document.createElement("video");
    Object.assign(video, { muted: true, playsInline: true, srcObject: state.stream });
    await video.play();
    state.video = video;
    watchFrames(video);
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    state.cameras = devices.filter((device) => device.kind === "videoinput").length;
    $("live-switch").hidden = state.cameras < 2;
    const settings = state.stream.getVideoTracks()[0].getSettings();
    state.mirrored = settings.facingMode ? settings.facingMode === "user" : state.facing === "user";
    $("live-stage").classList.toggle("mirrored", state.mirrored);
  }

  async function start() {
    setMode("live");
    status(i18n.t("live.starting"), "loading");
    try {
      await prepare();
      await openCamera();
    } catch (error) {
      fallBack(error.message || i18n.t("live.unavailable"));
      return;
    }
    state.running = true;
    state.frozen = false;
    showSnapshotControls(false);
    status(i18n.t("live.looking"));
    schedule();
  }

  function stop() {
    state.running = false;
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    state.stream = null;
    state.video = null;
    state.smoother.reset();
  }

  // The camera's frames are noted as they arrive, whatever the loop is doing, so the next one starts as soon as the
  // last is drawn: asking for a fresh callback after each frame cost a compositor frame each time (14 fps
  // against 16 on software WebGL here).
  function watchFrames(video) {
    if (!video.requestVideoFrameCallback) return;
    const arrived = () => {
      if (state.video !== video) return;  // the camera was stopped or switched
      state.frameWaiting = true;
      schedule();
      video.requestVideoFrameCallback(arrived);
    };
    video.requestVideoFrameCallback(arrived);
  }

  function schedule() {
    if (!state.running || state.frozen || state.busy || state.queued) return;
    const video = state.video;
    if (video && !video.requestVideoFrameCallback) {
      state.queued = true;
      requestAnimationFrame(() => frame());
    } else if (state.frameWaiting) {  // else the watcher calls back when the next frame arrives
      state.frameWaiting = false;
      state.queued = true;
      setTimeout(() => frame(), 0);
    }
  }

  function grab(source, width, height) {
    if (state.frameCanvas.width !== width || state.frameCanvas.height !== height) {
      state.frameCanvas.width = width;
      state.frameCanvas.height = height;
    }
    state.context.drawImage(source, 0, 0, width, height);
    state.pixels = state.context.getImageData(0, 0, width, height).data;
  }

  // One camera frame: grab it, find the face, smooth the landmarks, draw the look.
  async function frame() {
    state.queued = false;
    const video = state.video;
    if (!state.running || state.frozen || !video || state.busy) return;
    state.busy = true;
    try {
      const started = performance.now();
      grab(video, video.videoWidth, video.videoHeight);
      await state.faceMesh.send({ image: state.frameCanvas });
      const found = performance.now();
      track(found);
      redraw();
      record(started, found, performance.now());
    } catch (error) {
      fallBack(i18n.t("live.unavailable"));
    } finally {
      state.busy = false;
    }
    schedule();
  }

  function track(time) {
    const width = state.frameCanvas.width, height = state.frameCanvas.height;
    if (!state.latest) {
      if (state.landmarks) status(i18n.t("live.looking"));
      state.landmarks = null;
      state.smoother.reset();
      return;
    }
    const raw = new Float32Array(state.latest.length * 2);
    state.latest.forEach((point, i) => { raw[2 * i] = point.x * width; raw[2 * i + 1] = point.y * height; });
    if (!state.landmarks) status(i18n.t(state.look.length ? "live.tracking" : "tryon.tap_shade"));
    state.landmarks = Float32Array.from(state.smoother.filter(raw, time));
  }

  function redraw() {
    if (!state.renderer || !state.frameCanvas || !state.frameCanvas.width) return;
    const beforeSide = state.mirrored ? 1 : -1;  // "before" is on the left of the screen either way
    const split = state.mirrored ? 1 - state.split : state.split;
    state.drawn = state.renderer.draw(state.frameCanvas, state.landmarks, state.look,
                                      { split, beforeSide, pixels: state.pixels });
  }

  function record(started, found, done) {
    const stats = state.stats;
    stats.frames += 1;
    if (state.landmarks) stats.tracked += 1;
    for (const [list, value] of [[stats.times, done], [stats.landmarkMs, found - started], [stats.renderMs, done - found]]) {
      list.push(value);
      if (list.length > STATS_WINDOW + 1) list.shift();
    }
    if (stats.frames % 15 === 0) $("live-fps").textContent = i18n.t("live.fps", { fps: Math.round(fps()) });
  }

  function fps() {
    const times = state.stats.times;
    return times.length > 1 ? (1000 * (times.length - 1)) / (times[times.length - 1] - times[0]) : 0;
  }

  // The frame on screen, kept with its look: saved by the browser on this device, never uploaded.
  function snapshot() {
    if (!state.landmarks && !state.frozen) {
      status(i18n.t("live.looking"));
      return;
    }
    state.frozen = true;
    redraw();
    showSnapshotControls(true);
    const save = $("live-save");
    capture().toBlob((blob) => {
      if (save.dataset.url) URL.revokeObjectURL(save.dataset.url);
      save.dataset.url = URL.createObjectURL(blob);
      save.href = save.dataset.url;
    }, "image/png");
    const names = state.look.map((layer) => layer.title).filter(Boolean);
    status(names.length ? i18n.t("live.snapshot_taken", { products: names.join(", ") }) : i18n.t("live.snapshot_plain"));
  }

  function resume() {
    state.frozen = false;
    showSnapshotControls(false);
    status(i18n.t(state.landmarks ? "live.tracking" : "live.looking"));
    if (state.running) schedule();
    else start();
  }

  function showSnapshotControls(frozen) {
    $("live-snapshot").hidden = frozen;
    $("live-resume").hidden = !frozen;
    $("live-save").hidden = !frozen;
  }

  async function switchCamera() {
    stop();
    state.facing = state.facing === "user" ? "environment" : "user";
    start();
  }

  function setSplit(value) {
    state.split = Math.min(Math.max(value, 0), 1);
    $("live-split").value = String(Math.round(state.split * 100));
    $("live-split-line").style.left = `${state.split * 100}%`;
    $("live-split-line").hidden = state.split <= 0 || state.split >= 1;
    if (state.frozen || !state.running) redraw();
  }

  function dragSplit(stage) {
    const move = (event) => {
      const box = stage.getBoundingClientRect();
      setSplit((event.clientX - box.left) / box.width);
    };
    stage.addEventListener("pointerdown", (event) => {
      stage.setPointerCapture(event.pointerId);
      move(event);
      stage.addEventListener("pointermove", move);
    });
    for (const end of ["pointerup", "pointercancel"]) stage.addEventListener(end, () => stage.removeEventListener("pointermove", move));
  }

  // What the shopper sees, as one picture: the renderer's canvas holds the frame with the look.
  function capture() {
    redraw();
    return $("live-canvas");
  }

  // A still picture through the same pipeline (the parity check with /api/v1/tryon, and the benchmark).
  async function renderStill(url) {
    setMode("live");
    await prepare();
    stop();
    const picture = new Image();
    picture.src = url;
    await picture.decode();
    state.faceMesh.reset();
    state.smoother.reset();
    grab(picture, picture.naturalWidth, picture.naturalHeight);
    await state.faceMesh.send({ image: state.frameCanvas });
    state.landmarks = null;
    track(performance.now());
    state.frozen = true;
    redraw();
    showSnapshotControls(true);
    return { faces: state.landmarks ? 1 : 0, drawn: state.drawn };
  }

  document.addEventListener("shoplens:look", (event) => {
    state.look = event.detail.layers;
    if (state.mode === "live" && (state.frozen || !state.running)) redraw();
    if (state.mode === "live" && state.config) {
      const skipped = state.look.filter((layer) => !state.config.live_types.includes(layer.product_type));
      if (skipped.length) status(i18n.t("live.photo_only", { products: skipped.map((layer) => layer.title).join(", ") }));
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    $("mode-live").addEventListener("click", () => { if (state.mode !== "live") start(); });
    $("mode-photo").addEventListener("click", () => { stop(); setMode("photo"); });
    $("live-snapshot").addEventListener("click", snapshot);
    $("live-resume").addEventListener("click", resume);
    $("live-switch").addEventListener("click", switchCamera);
    $("live-split").addEventListener("input", (event) => setSplit(Number(event.target.value) / 100));
    dragSplit($("live-stage"));
    setSplit(0);
    document.addEventListener("visibilitychange", () => {  // a hidden page gives the camera back
      if (document.hidden && state.running) stop();
      else if (!document.hidden && state.mode === "live" && !state.frozen && !state.running) start();
    });
  });

  // For tests and the benchmark: what is on screen and how fast it comes.
  window.shoplensLive = {
    renderStill,
    capture: () => capture().toDataURL("image/png"),
    get state() {
      const mean = (list) => (list.length ? list.reduce((a, b) => a + b, 0) / list.length : 0);
      return { mode: state.mode, running: state.running, frozen: state.frozen, frames: state.stats.frames,
               tracked: state.stats.tracked, tracking: Boolean(state.landmarks), fps: fps(),
               landmarkMs: mean(state.stats.landmarkMs), renderMs: mean(state.stats.renderMs), drawn: state.drawn,
               width: state.frameCanvas ? state.frameCanvas.width : 0,
               height: state.frameCanvas ? state.frameCanvas.height : 0, mirrored: Boolean(state.mirrored),
               landmarks: state.landmarks ? Array.from(state.landmarks) : null, split: state.split };
    },
  };
})();
