// The static character playground's page: notebook 08's CharacterPlayground (maml_lite/playground/characters.py)
// around convnet.js's maths.
//
// As in Python: pick an alphabet of the test split and "new characters" (five of it, drawn by the same seeded
// generator as CharacterPlayground(seed=0): torch's Mersenne Twister and randperm), which of the 20 drawings of each
// is its one example, and the inner steps. Each model's probabilities for one new drawing of each class are a 5 x 5
// heat map, with its accuracy on all 95 queries; a drawing on the pad joins the queries (last, so it also joins their
// batch-norm statistics) and each model's probabilities for it are a bar chart. A change of characters, example or
// drawing adapts every model once, 0..10 steps, in Workers (made from convnet.js's own text, so it works opened as a
// file; on the page itself, a job at a time, if a Worker cannot start); results show as they come; the steps slider
// only redraws. One boundary (guard) turns anything unexpected into a message.
// URL options: ?embed (in a frame: no heading or introduction), ?seed=N (the generator's seed, 0 by default),
// ?workers=N (1 to 4 Workers; by default 2 where the machine has 4 cores or more, else 1), ?worker=0 (compute on the
// page).
(function () {
  "use strict";
  const D = window.MAML_LITE_CHARACTERS, C = window.MamlConvnet;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  if (!D || !C) {
    $("messages").innerHTML = "<div>⚠ Could not load data.js or convnet.js: keep the folder's files together.</div>";
    $("status").textContent = "";
    return;
  }
  const MAX_STEPS = D.max_steps, N_WAY = D.n_way, DRAWERS = D.drawers, PER_CLASS = DRAWERS - 1;
  const N_QUERY = N_WAY * PER_CLASS, SHOWN = 0;  // the heat maps show each class's first other drawing (render's query=0)
  const query = new URLSearchParams(location.search);
  if (query.has("embed")) {  // in a frame (the slides, the book): no heading or introduction
    for (const el of document.querySelectorAll("h1, .lede")) el.hidden = true;
  }
  const S = {
    models: [], images: null, classes: [], alphabet: 0, drawing: null, rng: TorchGenerator(Number(query.get("seed")) || 0),
    task: null, probs: {}, stale: null, id: 0, progress: [0, 1], done: false, engine: null, started: 0, firstShown: false,
  };
  const timings = [], adapts = [];  // input-to-redraw of every input; each adaptation's time to step 0 and to the end

  // torch's CPU generator (MT19937, seeded as torch.Generator().manual_seed(seed)) and torch.randperm's shuffle, so
  // "new characters" picks CharacterPlayground's characters: randperm(len(pool))[:5] of the alphabet's classes.
  // web/playground/playground.js has the same generator: each page's folder stands alone on a static host.
  function TorchGenerator(seed) {
    const mt = new Uint32Array(624);
    let index = 624;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const s = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, s) + i) >>> 0;
    }
    function next() {
      if (index >= 624) {
        for (let i = 0; i < 624; i++) {
          const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
          mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        index = 0;
      }
      let y = mt[index++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }
    return {
      randperm(n) {  // torch.randperm(n) for small n: r[i] <-> r[i + random() % (n - i)]
        const r = Array.from({ length: n }, (_, i) => i);
        for (let i = 0; i < n - 1; i++) {
          const z = next() % (n - i);
          [r[i], r[z + i]] = [r[z + i], r[i]];
        }
        return r;
      },
    };
  }

  const ctl = { alphabet: $("alphabet"), drawer: $("drawer"), steps: $("steps") };
  const steps = () => Number(ctl.steps.value);
  const drawer = () => Number(ctl.drawer.value) - 1;

  // ------------------------------------------------------------------------------------------ messages
  function say(text) {
    $("messages").innerHTML = text ? `<div>⚠ ${esc(text)}</div>` : "";
  }

  function guard(action) {  // the one boundary: a message, never an exception out of an event handler
    return (...args) => {
      try {
        return action(...args);
      } catch (error) {
        say(`Could not update: ${error && error.message || error}. Try other characters or clear the pad.`);
        return undefined;
      }
    };
  }

  // ------------------------------------------------------------------------------------------ episodes
  function pool(alphabet) { return D.class_alphabet.flatMap((a, c) => (a === alphabet ? [c] : [])); }

  function newCharacters() {  // CharacterPlayground._new_characters
    const p = pool(S.alphabet);
    S.classes = S.rng.randperm(p.length).slice(0, N_WAY).map((i) => p[i]).sort((a, b) => a - b);
  }

  // Adapt every model to the current episode (and drawing), all steps; results arrive in onResult.
  function adapt(kind) {
    const sameEpisode = S.task && S.task.key === `${S.classes}|${drawer()}`;
    S.stale = sameEpisode ? S.probs : null;  // a new drawing: the old answers stay, dimmed, until the new come
    S.probs = {};
    S.done = false;
    S.firstShown = false;
    S.id += 1;
    S.started = performance.now();
    S.kind = kind;
    S.progress = [0, 1];
    S.task = { ...C.episode(S.images, S.classes, drawer(), S.drawing), steps: MAX_STEPS, key: `${S.classes}|${drawer()}` };
    const { key, queryLabels, ...task } = S.task;
    S.engine.adapt(S.id, task);
    drawEpisode();
    redraw();
  }

  function onResult(id, name, step, probs) {
    if (id !== S.id) return;
    (S.probs[name] = S.probs[name] || [])[step] = probs;
    if (!S.firstShown && S.models.every((m) => S.probs[m.name] && S.probs[m.name][0])) {
      S.firstShown = true;
      adapts.push({ kind: S.kind, first_ms: performance.now() - S.started, done_ms: null });
    }
    redraw();
  }

  function onProgress(id, done, total) {
    if (id !== S.id) return;
    S.progress = [done, total];
    status();
  }

  function onDone(id) {
    if (id !== S.id) return;
    S.done = true;
    S.stale = null;
    const last = adapts[adapts.length - 1];
    if (last && last.done_ms === null) last.done_ms = performance.now() - S.started;
    status();
    redraw();
  }

  function onError(id, message) {
    if (id !== S.id) return;
    say(`Could not adapt the models: ${message}. Try other characters or clear the pad.`);
    S.done = true;
    status();
  }

  // The Worker (from convnet.js's text, as a Blob) or, failing that, this page running the same jobs between frames.
  function startEngine() {
    const local = () => {
      let latest = 0;
      return {
        name: "page",
        adapt(id, task) {
          latest = id;
          C.run(S.models, task, {
            onResult: (name, step, probs) => onResult(id, name, step, probs),
            onProgress: (d, t) => onProgress(id, d, t),
            onDone: () => onDone(id),
            onError: (e) => onError(id, String(e && e.message || e)),
            cancelled: () => latest !== id,
            later: (f) => setTimeout(f, 0),
          });
        },
      };
    };
    if (query.get("worker") === "0" || typeof Worker === "undefined") return local();
    // MAML's steps are most of the work: on a machine with cores to spare, the models split over Workers
    const count = Math.max(1, Math.min(4, Number(query.get("workers")) || (navigator.hardwareConcurrency >= 4 ? 2 : 1)));
    const groups = Array.from({ length: count }, () => []);
    [...S.models].sort((a, b) => (b.adapt === "sgd") - (a.adapt === "sgd")).forEach((m, i) => groups[i % count].push(m));
    let workers;
    try {
      const source = `${window.mamlLiteConvnet.toString()}\nmamlLiteConvnet(self);\nself.MamlConvnet.serve(self);\n`;
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      workers = groups.map(() => new Worker(url));
    } catch (error) {
      return local();
    }
    let track = { id: -1 };  // the latest adaptation's jobs done by each worker, and how many workers finished
    const engine = {
      name: count > 1 ? `${count} workers` : "worker",
      adapt(id, task) {
        track = { id, done: new Array(count).fill(0), finished: 0, total: C.jobs(S.models, task.steps) };
        for (const worker of workers) worker.postMessage({ type: "adapt", id, task });
      },
    };
    workers.forEach((worker, w) => {
      worker.onmessage = guard((event) => {
        const m = event.data;
        if (m.type === "result") onResult(m.id, m.name, m.step, m.probs);
        else if (m.type === "error") onError(m.id, m.message);
        if (m.id !== track.id) return;
        if (m.type === "progress") {
          track.done[w] = m.done;
          onProgress(m.id, track.done.reduce((a, b) => a + b, 0), track.total);
        } else if (m.type === "done" && (track.finished += 1) === count) onDone(m.id);
      });
      worker.onerror = (event) => {  // a browser that refuses Blob workers: compute on the page instead
        event.preventDefault();
        for (const other of workers) other.terminate();
        const fallback = local();
        engine.name = fallback.name;
        engine.adapt = fallback.adapt;
        if (S.task && !S.done) adapt(S.kind);
      };
      worker.postMessage({ type: "models", models: groups[w] });
    });
    return engine;
  }

  // ------------------------------------------------------------------------------------------ drawing
  const BLUES = [[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214], [66, 146, 198],
                 [33, 113, 181], [8, 81, 156], [8, 48, 107]];  // matplotlib's "Blues"
  function blue(p) {
    const x = Math.min(1, Math.max(0, p)) * (BLUES.length - 1), i = Math.min(BLUES.length - 2, Math.floor(x)), f = x - i;
    return `rgb(${BLUES[i].map((c, j) => Math.round(c + f * (BLUES[i + 1][j] - c))).join(",")})`;
  }

  function glyph(canvas, ink) {  // 28 x 28 ink in [0, 1] as gray_r: 0 white, 1 black
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(255 * (1 - Math.min(1, Math.max(0, ink[i]))));
      img.data.set([v, v, v, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
  }

  function glyphCanvas(ink, label) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 28;
    canvas.className = "glyph";
    canvas.setAttribute("aria-label", label);
    glyph(canvas, ink);
    return canvas;
  }

  function drawEpisode() {  // each class's example and the new drawing the heat maps ask about
    const box = $("classes"), px = 784, { support, query } = S.task;
    box.textContent = "";
    const name = (c) => `${D.alphabets[D.class_alphabet[c]].replace(/_/g, " ")} ${D.class_name[c].replace("character", "character ")}`;
    const add = (el) => { box.append(el); return el; };
    add(document.createElement("span"));
    S.classes.forEach((c, k) => {
      const el = add(document.createElement("span"));
      el.className = "classname";
      el.textContent = `class ${k}`;
      el.title = name(c);
    });
    for (const [row, what, images, at] of [["example", "its one example", support, (k) => k],
                                           ["new drawing", "a new drawing", query, (k) => k * PER_CLASS + SHOWN]]) {
      const label = add(document.createElement("span"));
      label.className = "rowname";
      label.textContent = row;
      S.classes.forEach((c, k) => add(glyphCanvas(images.subarray(at(k) * px, (at(k) + 1) * px), `class ${k}: ${what}`)));
    }
  }

  function accuracy(p) {  // how many of the 95 queries (not the drawing) have their own class most probable
    let right = 0;
    for (let i = 0; i < N_QUERY; i++) {
      let best = 0;
      for (let k = 1; k < N_WAY; k++) if (p[i * N_WAY + k] > p[i * N_WAY + best]) best = k;  // the first of ties
      if (best === S.task.queryLabels[i]) right += 1;
    }
    return right;
  }

  function result(name, step) {  // {p, stale} or null while it is being computed
    if (S.probs[name] && S.probs[name][step]) return { p: S.probs[name][step], stale: false };
    if (S.stale && S.stale[name] && S.stale[name][step]) return { p: S.stale[name][step], stale: true };
    return null;
  }

  function heatMap(m, step) {
    const r = result(m.name, step), el = document.createElement("div");
    el.className = `map maml-map maml-map-${m.name}${r && r.stale ? " stale" : ""}`;
    const right = r ? accuracy(r.p) : null;
    const score = r ? `${Math.round((100 * right) / N_QUERY)}% of ${N_QUERY} right` : `computing step ${step}…`;
    const ticks = Array.from({ length: N_WAY }, (_, k) => `<span>${k}</span>`).join("");
    let cells = "";
    if (r) {
      for (let t = 0; t < N_WAY; t++) {
        const row = t * PER_CLASS + SHOWN;
        for (let k = 0; k < N_WAY; k++) {
          const v = r.p[row * N_WAY + k];
          cells += `<div style="background:${blue(v)};color:${v > 0.55 ? "#fff" : "#222"}" ` +
            `title="true class ${t}, predicted ${k}: p = ${v.toFixed(3)}">${v.toFixed(2).replace(/^0/, "")}</div>`;
        }
      }
    }
    el.innerHTML = `<div class="title" style="color:${esc(m.color)}">${esc(m.label)}<br>` +
      `<span class="maml-accuracy maml-accuracy-${esc(m.name)}"${r ? ` data-right="${right}"` : ""}>${score}</span></div>` +
      `<div class="frame"><span class="ylabel">true class</span><div class="yticks">${ticks}</div>` +
      (r ? `<div class="cells">${cells}</div>` : `<div class="pending">computing…</div>`) +
      `<div class="xticks">${ticks}</div><div class="xlabel">predicted class</div></div>`;
    return el;
  }

  function barChart(m, step) {
    const r = result(m.name, step), el = document.createElement("div");
    el.className = `bar maml-bar maml-bar-${m.name}${r && r.stale ? " stale" : ""}`;
    if (!r) {
      el.innerHTML = `<div class="title" style="color:${esc(m.color)}">${esc(m.label)}: computing…</div>`;
      return el;
    }
    const row = S.task.nq - 1;
    if (r.p.length < (row + 1) * N_WAY) {  // earlier answers without a drawing
      el.innerHTML = `<div class="title" style="color:${esc(m.color)}">${esc(m.label)}: computing…</div>`;
      return el;
    }
    let best = 0;
    const p = Array.from({ length: N_WAY }, (_, k) => r.p[row * N_WAY + k]);
    p.forEach((v, k) => { if (v > p[best]) best = k; });
    el.dataset.class = String(best);
    el.innerHTML = `<div class="title" style="color:${esc(m.color)}">${esc(m.label)}: class ${best}</div>` +
      `<div class="frame"><div class="yaxis"><span>1</span><span>p</span><span>0</span></div><div class="plot">` +
      p.map((v, k) => `<div style="height:${(100 * v).toFixed(1)}%;background:${esc(m.color)}" ` +
        `title="class ${k}: p = ${v.toFixed(3)}"></div>`).join("") +
      `</div><div class="xticks">${p.map((_, k) => `<span>${k}</span>`).join("")}</div></div>`;
    return el;
  }

  function redraw() {
    const step = steps();
    $("steps-out").textContent = String(step);
    $("drawer-out").textContent = ctl.drawer.value;
    $("caption").textContent = `After ${step} step${step === 1 ? "" : "s"}: p(class | new drawing), darker = more ` +
      `probable; accuracy on all ${N_QUERY} new drawings`;
    $("maps").replaceChildren(...S.models.map((m) => heatMap(m, step)));
    if (S.drawing) {
      $("bars").replaceChildren(...S.models.map((m) => barChart(m, step)));
    } else {
      $("bars").innerHTML = '<div class="pending">Draw on the pad: each model\'s probabilities for your drawing show here.</div>';
    }
    status();
  }

  function status() {
    const [done, total] = S.progress;
    if (!S.task) return;
    if (S.done) {
      const last = adapts[adapts.length - 1];
      $("status").textContent = last && last.done_ms !== null ? `adapted in ${(last.done_ms / 1000).toFixed(1)} s` : "";
      return;
    }
    $("status").innerHTML = `<progress max="${total}" value="${done}"></progress> adapting: ` +
      `${Math.round((100 * done) / total)}%`;
  }

  // ------------------------------------------------------------------------------------------ the drawing pad
  // drawpad.js's pad: 196 x 196 CSS pixels, a 13-pixel round pen; on release, the mean ink (alpha) of each 7 x 7 block
  // is one of the 28 x 28 ink values the models classify.
  const SIDE = 196, CELL = 7, pad = $("pad"), penCtx = pad.getContext("2d");
  function sizePad() {
    const ratio = window.devicePixelRatio || 1;
    pad.width = pad.height = Math.round(SIDE * ratio);
    penCtx.setTransform(ratio, 0, 0, ratio, 0, 0);
    Object.assign(penCtx, { lineWidth: 13, lineCap: "round", lineJoin: "round", strokeStyle: "#000" });
  }

  function padInk() {
    const data = penCtx.getImageData(0, 0, pad.width, pad.height).data;
    const scale = pad.width / SIDE, block = CELL * scale, out = new Array(784).fill(0);
    for (let y = 0; y < pad.height; y++) {
      for (let x = 0; x < pad.width; x++) {
        const i = Math.min(27, Math.floor(y / block)) * 28 + Math.min(27, Math.floor(x / block));
        out[i] += data[4 * (y * pad.width + x) + 3] / 255;
      }
    }
    return out.map((v) => Math.min(1, v / (block * block)));
  }

  // A drawing as check_drawing takes it: [] (none), or 784 numbers in [0, 1]; an all-blank one is an empty pad.
  // Returns the message to show, or "" when the drawing was taken.
  function setDrawing(ink, event) {
    const start = event && event.timeStamp ? event.timeStamp : performance.now();
    let message = "";
    if (!Array.isArray(ink) || (ink.length !== 0 && ink.length !== 784)) {
      message = "A drawing is 28 x 28 = 784 ink values; clear the pad and draw again.";
    } else if (!ink.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 1)) {
      message = "A drawing's ink values must be numbers between 0 and 1; clear the pad and draw again.";
    } else if (ink.length && !ink.some((v) => v > 0)) {
      message = "The pad is empty: press and drag on it to draw a character.";
    }
    say(message);
    if (message) return message;
    S.drawing = ink.length ? ink.slice() : null;
    glyph($("drawing"), S.drawing || new Array(784).fill(0));
    adapt(S.drawing ? "drawing" : "clear");
    note(S.drawing ? "drawing" : "clear", start);
    return "";
  }

  let last = null;
  const at = (e) => {
    const box = pad.getBoundingClientRect();
    return [((e.clientX - box.left) * SIDE) / box.width, ((e.clientY - box.top) * SIDE) / box.height];
  };
  pad.addEventListener("pointerdown", guard((e) => { last = at(e); pad.setPointerCapture(e.pointerId); }));
  pad.addEventListener("pointermove", guard((e) => {
    if (!last) return;
    const next = at(e);
    penCtx.beginPath();
    penCtx.moveTo(...last);
    penCtx.lineTo(...next);
    penCtx.stroke();
    last = next;
  }));
  const release = guard((e) => {
    if (!last) return;
    last = null;
    setDrawing(padInk(), e);
  });
  pad.addEventListener("pointerup", release);
  pad.addEventListener("pointerleave", release);
  $("clear").addEventListener("click", guard((e) => {
    penCtx.clearRect(0, 0, SIDE, SIDE);
    setDrawing([], e);
  }));

  // ------------------------------------------------------------------------------------------ inputs
  // Every input: note the time from the input event's own time stamp to the end of the redraw and to the next frame.
  function note(kind, start) {
    const entry = { kind, handler_ms: performance.now() - start, frame_ms: null };
    timings.push(entry);
    requestAnimationFrame(() => { entry.frame_ms = performance.now() - start; });
  }

  const on = (el, type, kind, action) => el.addEventListener(type, guard((e) => {
    say("");
    action(e);
    note(kind, e.timeStamp || performance.now());
  }));
  on(ctl.alphabet, "change", "alphabet", () => { S.alphabet = Number(ctl.alphabet.value); newCharacters(); adapt("alphabet"); });
  on($("new"), "click", "new characters", () => { newCharacters(); adapt("new characters"); });
  ctl.drawer.addEventListener("input", () => { $("drawer-out").textContent = ctl.drawer.value; });
  on(ctl.drawer, "change", "example drawing", () => adapt("example drawing"));  // on release, as continuous_update=False
  on(ctl.steps, "input", "steps", () => redraw());

  // For tests and the benchmark (tests/browser/test_static_characters.py, benchmarks/static_characters.py).
  window.characters = {
    timings, adapts,
    engine: () => S.engine && S.engine.name,
    ready: () => Boolean(S.task) && S.done,
    episode: () => ({ alphabet: D.alphabets[S.alphabet], classes: S.classes.slice(), drawer: drawer() }),
    // {alphabet (name), classes (test class ids), drawer (0..19), steps}: as if the controls were set
    set: guard((values) => {
      const { classes, drawer: d, alphabet } = values, n = D.class_alphabet.length;
      if (classes !== undefined && !(Array.isArray(classes) && classes.length === N_WAY && new Set(classes).size === N_WAY
          && classes.every((c) => Number.isInteger(c) && c >= 0 && c < n))) {
        throw new Error(`pick ${N_WAY} different characters of 0..${n - 1}, got ${JSON.stringify(classes)}`);
      }
      if (d !== undefined && !(Number.isInteger(d) && d >= 0 && d < DRAWERS)) {
        throw new Error(`the example drawing must be 0..${DRAWERS - 1}, got ${JSON.stringify(d)}`);
      }
      if (alphabet !== undefined && !D.alphabets.includes(alphabet)) throw new Error(`no alphabet ${alphabet}`);
      if (alphabet !== undefined) ctl.alphabet.value = String(S.alphabet = D.alphabets.indexOf(alphabet));
      if (classes !== undefined) S.classes = classes.slice();
      if (d !== undefined) ctl.drawer.value = String(d + 1);
      if (values.steps !== undefined) ctl.steps.value = String(values.steps);
      if (classes !== undefined || d !== undefined || alphabet !== undefined) adapt("set");
      else redraw();
    }),
    setDrawing: (ink) => guard(setDrawing)(ink),
    drawing: () => S.drawing && S.drawing.slice(),
    // every model's probabilities after 0..max steps on every query (and the drawing, last): {name: [step][row][k]}
    probabilities: () => Object.fromEntries(S.models.map((m) => [m.name, (S.probs[m.name] || []).map((p) =>
      Array.from({ length: p.length / N_WAY }, (_, i) => Array.from(p.subarray(i * N_WAY, (i + 1) * N_WAY))))])),
    readouts: () => Object.fromEntries(S.models.map((m) => {
      const el = document.querySelector(`.maml-accuracy-${m.name}`);
      return [m.name, { text: el.textContent, right: el.dataset.right === undefined ? null : Number(el.dataset.right) }];
    })),
    answers: () => Object.fromEntries([...document.querySelectorAll(".maml-bar")].map((el) =>
      [el.className.match(/maml-bar-(\w+)/)[1], el.dataset.class === undefined ? null : Number(el.dataset.class)])),
  };

  // ------------------------------------------------------------------------------------------ start
  async function start() {
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot inflate the page's data (no DecompressionStream): use a current Chrome, " +
                      "Edge, Firefox or Safari");
    }
    [S.images, ...S.models] = await Promise.all([C.decode(D.images), ...D.models.map(C.loadModel)]);
    D.alphabets.forEach((a, i) => ctl.alphabet.add(new Option(a.replace(/_/g, " "), String(i))));
    sizePad();
    glyph($("drawing"), new Array(784).fill(0));
    S.engine = startEngine();
    newCharacters();  // as CharacterPlayground: the first alphabet, five of its characters
    adapt("start");
  }
  start().catch((error) => {
    $("status").textContent = "";
    say(`Could not start: ${error && error.message || error}.`);
  });
})();
