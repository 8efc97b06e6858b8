// The static playground's page: notebook 04's controls and readouts around one canvas (maml.js does the maths).
//
// As in maml_lite.widgets.Playground: the sliders set the task (y = A sin(x - φ)), K sampled points (or the
// points you click), the number of inner steps and the step size α; every model's curve after that many steps
// is drawn over the true one, and each model's MSE against the true curve on 200 x in [-5, 5] is shown, or the
// step at which it diverged (a prediction NaN, inf or above 1e6 at that step or an earlier one). The learned
// optimisers (LSTM rules) are slower to step, so their steps are computed between frames and drawn when ready.
// URL options: ?models=maml,anil,... shows those models first (the others can be ticked on).
(function () {
  "use strict";
  const W = window.MAML_LITE_WEIGHTS;
  const $ = (id) => document.getElementById(id);
  if (!W || !window.MamlLite) {
    $("messages").textContent = "Could not load weights.js or maml.js: keep the folder's files together.";
    return;
  }
  const models = window.MamlLite.models(W);
  const byName = Object.fromEntries(models.map((m) => [m.name, m]));
  const [X_LO, X_HI] = W.tasks.x_range, [A_LO, A_HI] = W.tasks.amplitude, [P_LO, P_HI] = W.tasks.phase;
  const MAX_K = 20, DIVERGED = 1e6, N = W.n_grid;
  const NUMBERS = { 1: "One model", 2: "Two models", 3: "Three models", 4: "Four models", 5: "Five models",
                    6: "Six models", 7: "Seven models", 8: "Eight models", 9: "Nine models", 10: "Ten models" };
  const grid = new Float64Array(N);
  for (let i = 0; i < N; i++) grid[i] = X_LO + (X_HI - X_LO) * i / (N - 1);  // numpy.linspace(-5, 5, 200)

  // ------------------------------------------------------------------------------------------ state
  const query = new URLSearchParams(location.search), asked = query.get("models");
  if (query.has("embed")) {  // in a frame (the slides, the book): no heading, introduction or footer
    for (const el of document.querySelectorAll("h1, .lede, .foot")) el.hidden = true;
  }
  const firstShown = asked ? asked.split(",").filter((n) => byName[n]) : models.filter((m) => m.notebook === "04")
    .map((m) => m.name);
  const S = {
    visible: new Set(firstShown.length ? firstShown : ["maml"]),
    source: "sampled", clicked: [], seed: 0, rng: TorchGenerator(0),
    trajectories: {}, generation: 0, pending: new Set(), notes: [],
  };
  // input-to-redraw, one entry per input: {kind, handler_ms: to the end of the redraw, frame_ms: to the next frame,
  // complete_ms: until every shown model is drawn (later than handler_ms only while a learned rule steps)}
  const timings = [];

  // torch's CPU generator, so the page draws the notebook's points and tasks: a Mersenne Twister (MT19937) seeded as
  // torch.Generator().manual_seed(seed); a float64 in [0, 1) from two draws (torch.rand), an integer below n from
  // two draws (torch.randint). widgets.sample_points and widgets.random_task use exactly these.
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
      double() { const hi = next(), lo = next(); return ((hi & 0x1fffff) * 4294967296 + lo) / 9007199254740992; },
      below(n) { const hi = BigInt(next()), lo = BigInt(next()); return Number(((hi << 32n) | lo) % BigInt(n)); },
    };
  }

  const ctl = { amplitude: $("amplitude"), phase: $("phase"), k: $("k"), half: $("half"), steps: $("steps"), lr: $("lr") };
  const lr = () => Math.pow(10, Number(ctl.lr.value));
  // amplitude and phase as set (a random task's 4.85 stays 4.85 though the slider's step is 0.1)
  S.amplitude = Number(ctl.amplitude.value);
  S.phase = Number(ctl.phase.value);
  const amplitude = () => S.amplitude;
  const phase = () => S.phase;
  const steps = () => Number(ctl.steps.value);

  // K support points of the task: x uniform on [-5, 5] (or [0, 5]); a larger K only adds points (widgets.sample_points)
  function points() {
    if (S.source === "clicked") return { x: S.clicked.map((p) => p[0]), y: S.clicked.map((p) => p[1]) };
    const rand = TorchGenerator(S.seed), u = [];
    for (let i = 0; i < MAX_K; i++) u.push(rand.double());
    const lo = ctl.half.checked ? 0 : X_LO, k = Number(ctl.k.value), x = u.slice(0, k).map((v) => lo + (X_HI - lo) * v);
    return { x, y: x.map((v) => amplitude() * Math.sin(v - phase())) };
  }

  // The models adapted to the current points at the current α, step by step on demand (maml.js's Trajectory).
  function invalidate() {
    S.trajectories = {};
    S.generation += 1;
    S.pending.clear();
  }

  function trajectory(name) {
    if (!S.trajectories[name]) {
      const p = points();
      S.trajectories[name] = byName[name].adapter(p.x, p.y, lr());
    }
    return S.trajectories[name];
  }

  // What a model shows at `step`: its curve, MSE and the first diverged step, or {pending} while a learned
  // rule's steps are still being computed.
  function result(name, step) {
    const tr = trajectory(name), truth = truthCurve();
    if (tr.model.update === "rule" && tr.k && tr.states.length <= step) {
      scheduleRule(name, step);
      return { pending: true };
    }
    for (let s = 0; s <= step; s++) {
      const y = tr.predict(s, grid);
      let bad = false;
      for (let i = 0; i < N; i++) if (!(Math.abs(y[i]) <= DIVERGED)) { bad = true; break; }
      if (bad) return { divergedAt: s };
    }
    const y = tr.predict(step, grid);
    let mse = 0;
    for (let i = 0; i < N; i++) mse += (y[i] - truth[i]) ** 2 / N;
    return { y, mse };
  }

  function scheduleRule(name, step) {  // one learned-rule step per task, between frames; redraw when done
    if (S.pending.has(name)) return;
    S.pending.add(name);
    const generation = S.generation, tr = S.trajectories[name];
    const work = () => {
      if (generation !== S.generation) return;
      const target = Math.max(step, steps());
      if (tr.states.length <= target) {
        tr.state(tr.states.length);
        setTimeout(work, 0);
        return;
      }
      S.pending.delete(name);
      redraw();
      const last = timings[timings.length - 1];
      if (last && !S.pending.size) last.complete_ms = performance.now() - last.start;  // every model drawn
    };
    setTimeout(work, 0);
  }

  let truthCache = null;
  function truthCurve() {
    const key = `${amplitude()},${phase()}`;
    if (!truthCache || truthCache.key !== key) {
      const y = new Float64Array(N);
      for (let i = 0; i < N; i++) y[i] = amplitude() * Math.sin(grid[i] - phase());
      truthCache = { key, y };
    }
    return truthCache.y;
  }

  // ------------------------------------------------------------------------------------------ drawing
  const canvas = $("plot"), ctx = canvas.getContext("2d");
  const M = { left: 46, right: 12, top: 28, bottom: 36 };
  let view = { w: 760, h: 400, lim: 6 };

  function sizeCanvas() {
    const w = Math.max(320, Math.min(760, canvas.parentElement.clientWidth - 2)), h = Math.round(w * 400 / 760);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    view = { ...view, w, h };
  }

  const px = (x) => M.left + (x - X_LO) / (X_HI - X_LO) * (view.w - M.left - M.right);
  const py = (y) => M.top + (view.lim - y) / (2 * view.lim) * (view.h - M.top - M.bottom);
  const dataX = (p) => X_LO + (p - M.left) / (view.w - M.left - M.right) * (X_HI - X_LO);
  const dataY = (p) => view.lim - (p - M.top) / (view.h - M.top - M.bottom) * 2 * view.lim;

  function yLimit(p) {  // as the notebook: 6, or the next even number that fits 1.3 A and the points
    let need = 1.3 * Math.abs(amplitude());
    for (const v of p.y) need = Math.max(need, 1.15 * Math.abs(v));
    return need <= 6 ? 6 : 2 * Math.ceil(need / 2);
  }

  function drawAxes(title) {
    const { w, h, lim } = view;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#222";
    ctx.strokeStyle = "#eee";
    ctx.lineWidth = 1;
    const yStep = lim <= 8 ? 2 : lim <= 20 ? 5 : Math.pow(10, Math.floor(Math.log10(lim)));
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let v = -Math.floor(lim / yStep) * yStep; v <= lim + 1e-9; v += yStep) {
      ctx.beginPath(); ctx.moveTo(M.left, py(v)); ctx.lineTo(w - M.right, py(v)); ctx.stroke();
      ctx.fillText(String(v), M.left - 5, py(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let v = -4; v <= 4; v += 2) {
      ctx.beginPath(); ctx.moveTo(px(v), M.top); ctx.lineTo(px(v), h - M.bottom); ctx.stroke();
      ctx.fillText(String(v), px(v), h - M.bottom + 4);
    }
    ctx.strokeStyle = "#444";
    ctx.strokeRect(M.left, M.top, w - M.left - M.right, h - M.top - M.bottom);
    ctx.fillText("x", (M.left + w - M.right) / 2, h - 15);
    ctx.save();
    ctx.translate(12, (M.top + h - M.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText("y", 0, -6);
    ctx.restore();
    ctx.font = "bold 13px system-ui, sans-serif";
    ctx.fillText(title, (M.left + w - M.right) / 2, 8);
  }

  function curve(y, color, width, dash) {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    for (let i = 0; i < N; i++) {
      const X = px(grid[i]), Y = py(Math.max(-1e4, Math.min(1e4, y[i])));
      if (i) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  // ------------------------------------------------------------------------------------------ readouts
  const fmt = (v, digits) => Number(v.toPrecision(digits)).toString();  // like Python's :g / .3g
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function buildLegend() {
    const groups = [["04", "notebook 04: SGD at α from each start"], ["06", "notebook 06: learned step sizes"],
                    ["07", "notebook 07: other updates"]];
    let html = '<label><span class="swatch truth"></span><span class="name">true function</span></label>';
    for (const [nb, caption] of groups) {
      const ms = models.filter((m) => m.notebook === nb);
      if (!ms.length) continue;
      html += `<h2>${esc(caption)}</h2>`;
      for (const m of ms) {
        html += `<label class="maml-model maml-model-${esc(m.name)}" title="${esc(describe(m))}">` +
          `<input type="checkbox" data-model="${esc(m.name)}"${S.visible.has(m.name) ? " checked" : ""}>` +
          `<span class="swatch" style="background:${esc(m.color)}"></span><span class="name">${esc(m.label)}</span>` +
          `<b class="maml-mse maml-mse-${esc(m.name)}"></b></label>`;
      }
    }
    $("legend").innerHTML = html;
    for (const box of $("legend").querySelectorAll("input[data-model]")) {
      box.addEventListener("change", (e) => {
        if (box.checked) S.visible.add(box.dataset.model); else S.visible.delete(box.dataset.model);
        input(e, "toggle", false);
      });
    }
  }

  function describe(m) {
    return { sgd: "SGD on every weight at the step size α", rates: "SGD at its learned step size per weight (α does not apply)",
             head: "SGD on the last layer only, at α (ANIL)", context: `SGD on 2 context inputs at ${m.contextLr} (CAVIA; α does not apply)`,
             rule: "its learned LSTM update rule (α does not apply)" }[m.update];
  }

  // ------------------------------------------------------------------------------------------ redraw
  function redraw() {
    const p = points(), step = steps();
    view.lim = yLimit(p);
    const shown = models.filter((m) => S.visible.has(m.name));
    drawAxes(`${NUMBERS[shown.length] || `${shown.length} models`} adapting to the points`);
    ctx.save();
    ctx.beginPath();
    ctx.rect(M.left, M.top, view.w - M.left - M.right, view.h - M.top - M.bottom);
    ctx.clip();
    curve(truthCurve(), W.truth_color, 1.5, [6, 4]);
    const diverged = { rates: [], rule: [], rate: [] }, texts = {};
    for (const m of models) {
      if (!S.visible.has(m.name)) { texts[m.name] = "off"; continue; }
      const r = result(m.name, step);
      if (r.pending) texts[m.name] = "computing…";
      else if (r.divergedAt !== undefined) {
        texts[m.name] = `diverged (step ${r.divergedAt})`;
        const kind = m.update === "rates" ? "rates" : m.usesPageRate ? "rate" : "rule";
        diverged[kind].push(`${m.label} (step ${r.divergedAt})`);
      } else {
        texts[m.name] = `MSE ${r.mse.toFixed(3)}`;
        curve(r.y, m.color, 2);
      }
    }
    ctx.fillStyle = W.truth_color;
    for (let i = 0; i < p.x.length; i++) {
      ctx.beginPath();
      ctx.arc(px(p.x[i]), py(p.y[i]), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
    for (const m of models) {
      const el = document.querySelector(`.maml-mse-${m.name}`);
      el.textContent = texts[m.name];
      el.classList.toggle("off", texts[m.name] === "off");
    }
    const how = S.source === "clicked" ? "placed by clicking (undo / clear to remove)"
      : `sampled from the task${ctl.half.checked ? " on x ≥ 0" : ""} (K slider; or click the plot to place your own)`;
    $("points-info").innerHTML = `<b>A = ${amplitude().toFixed(2)}, φ = ${phase().toFixed(2)}, after ${step} ` +
      `step${step === 1 ? "" : "s"} at α = ${fmt(lr(), 6)}</b> · ${p.x.length} support point${p.x.length === 1 ? "" : "s"} ${how}.`;
    const msgs = [...S.notes];
    S.notes = [];
    if (amplitude() < A_LO || amplitude() > A_HI) {
      msgs.push(`Amplitude ${fmt(amplitude(), 6)} is outside the meta-training range [${A_LO}, ${A_HI}]: the ` +
                "meta-learned models never saw such a task, expect them to do worse.");
    }
    if (phase() < P_LO || phase() > P_HI + 1e-9) {
      msgs.push(`Phase ${phase().toFixed(2)} is outside the meta-training range [0, pi = ${P_HI.toFixed(2)}]: the ` +
                "meta-learned models never saw such a task, expect them to do worse.");
    }
    if (!p.x.length) {
      msgs.push("No support points: showing the models before adaptation. Move the K slider or click on the plot to add points.");
    }
    if (diverged.rates.length) {
      msgs.push(`Diverged: ${diverged.rates.join(", ")}. Its step sizes were meta-learned for ONE step, so further ` +
                "steps overshoot (notebook 06); the inner learning rate slider does not apply to it.");
    }
    if (diverged.rule.length) {
      msgs.push(`Diverged: ${diverged.rule.join(", ")}. It adapts by its own learned rule, which the inner learning ` +
                "rate slider does not change (notebook 07).");
    }
    if (diverged.rate.length) {
      msgs.push(`Diverged with inner_lr=${fmt(lr(), 6)}: ${diverged.rate.join(", ")}. Each step overshoots and the ` +
                "prediction blows up; lower the inner learning rate (the paper uses 0.01).");
    }
    $("messages").innerHTML = msgs.map((m) => `<div>⚠ ${esc(m)}</div>`).join("");
    for (const [name, el] of Object.entries(ctl)) {
      const out = document.querySelector(`output[for=${name}]`);
      if (!out) continue;
      out.textContent = name === "lr" ? fmt(lr(), 3) : name === "phase" ? phase().toFixed(2)
        : name === "amplitude" ? amplitude().toFixed(1) : el.value;
    }
  }

  // Every input: change the state, recompute what it invalidates, redraw, and note how long it took
  // (from the input event's own time stamp to the end of the redraw, and to the next frame).
  function input(event, kind, changesPoints) {
    if (changesPoints) invalidate();
    redraw();
    const start = event && event.timeStamp ? event.timeStamp : performance.now();
    const entry = { kind, start, handler_ms: performance.now() - start, frame_ms: null,
                    complete_ms: S.pending.size ? null : performance.now() - start };
    timings.push(entry);
    requestAnimationFrame(() => { entry.frame_ms = performance.now() - start; });
  }

  function addPoint(x, y) {  // what a click on the plot does
    if (S.source !== "clicked") { S.source = "clicked"; S.clicked = []; }
    S.clicked.push([Math.max(X_LO, Math.min(X_HI, x)), y]);
  }

  // ------------------------------------------------------------------------------------------ wiring
  for (const name of ["amplitude", "phase"]) {
    ctl[name].addEventListener("input", (e) => { S[name] = Number(ctl[name].value); input(e, name, true); });
  }
  ctl.lr.addEventListener("input", (e) => input(e, "lr", true));
  for (const name of ["k", "half"]) {
    ctl[name].addEventListener("input", (e) => { S.source = "sampled"; input(e, name, true); });
  }
  ctl.steps.addEventListener("input", (e) => input(e, "steps", false));
  $("new-task").addEventListener("click", (e) => {
    const r = S.rng, a = r.double(), p = r.double();  // widgets.random_task, from the same generator
    S.seed = r.below(2147483647);
    S.amplitude = Number(ctl.amplitude.value = (A_LO + (A_HI - A_LO) * a).toFixed(2));  // the slider shows it rounded
    S.phase = Number(ctl.phase.value = (P_LO + (P_HI - P_LO) * p).toFixed(2));  // to its step, as the notebook's
    input(e, "new task", true);
  });
  $("undo").addEventListener("click", (e) => {
    if (S.source === "clicked" && S.clicked.length) S.clicked.pop();
    else S.notes.push("Nothing to undo: no clicked points.");
    input(e, "undo", true);
  });
  $("clear").addEventListener("click", (e) => { S.source = "clicked"; S.clicked = []; input(e, "clear", true); });
  canvas.addEventListener("pointerdown", (e) => {
    const r = canvas.getBoundingClientRect(), cx = e.clientX - r.left, cy = e.clientY - r.top;
    if (cx < M.left || cx > view.w - M.right || cy < M.top || cy > view.h - M.bottom) return;  // outside the axes
    addPoint(dataX(cx), dataY(cy));
    input(e, "click", true);
  });
  window.addEventListener("resize", () => { sizeCanvas(); redraw(); });

  // For tests and the benchmark (tests/browser/test_static_playground.py, benchmarks/static_playground.py).
  window.playground = {
    models: models.map((m) => m.name),
    points,
    task() { return { amplitude: amplitude(), phase: phase(), seed: S.seed, source: S.source }; },
    timings,
    show(names) { S.visible = new Set(names); buildLegend(); invalidate(); redraw(); },
    set(values) {  // {amplitude, phase, k, half, steps, lr_exponent, seed}: as if the controls were moved
      for (const [key, value] of Object.entries(values)) {
        if (key === "half") ctl.half.checked = Boolean(value);
        else if (key === "lr_exponent") ctl.lr.value = String(value);
        else if (key === "seed") S.seed = value;
        else if (key === "amplitude" || key === "phase") S[key] = Number(ctl[key].value = String(value));
        else ctl[key].value = String(value);
        if (key === "k" || key === "half" || key === "seed") S.source = "sampled";
      }
      invalidate();
      redraw();
    },
    // Every shown model's predictions after 0..max steps at the current points and α (computed now, in full).
    trajectories(max) {
      const out = {};
      for (const name of S.visible) {
        const tr = trajectory(name);
        out[name] = [];
        for (let s = 0; s <= max; s++) out[name].push(Array.from(tr.predict(s, grid)));
      }
      return out;
    },
    readouts() {
      return Object.fromEntries(models.map((m) => [m.name, document.querySelector(`.maml-mse-${m.name}`).textContent]));
    },
    idle() { return S.pending.size === 0; },
    plotBox() { const r = canvas.getBoundingClientRect(); return { left: r.left, top: r.top, ...M, w: view.w, h: view.h, lim: view.lim }; },
  };

  buildLegend();
  sizeCanvas();
  redraw();
})();
