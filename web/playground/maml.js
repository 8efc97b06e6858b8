// maml_lite's inner loop in plain JavaScript: the playground's models adapting to K points, with no kernel.
//
// The same maths as the package, in float64 from the checkpoints' float32 weights (weights.js, written by
// `python -m maml_lite.playground.export`):
//   forward   the 1 -> 40 -> 40 -> 1 ReLU MLP (CAVIA's takes x and 2 context numbers)
//   loss      MSE on the K support points, mean over the points (maml_lite.adapt.mse for one task)
//   sgd       theta <- theta - alpha * grad, alpha: the page's step size, or learned per weight (Meta-SGD),
//             or the step size on the last layer and 0 elsewhere (ANIL, maml_lite.anil.head_rates)
//   context   CAVIA: the weights stay, 2 context inputs (starting at 0) take the SGD step (maml_lite.cavia)
//   rule      a learned LSTM update rule, coordinate by coordinate (maml_lite.learned_opt: LSTMRule, MetaLearnerRule)
// A model's steps are computed lazily, one at a time, and kept until the points or the step size change.
// tests/browser/test_static_playground.py checks every model against the package after 0..10 steps.
(function (root) {
  "use strict";

  // ---------------------------------------------------------------------------------------------- tensors
  function floats(entry) {  // {name, shape, data} -> Float64Array holding exactly the float32 weights
    const out = new Float64Array(entry.data.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(entry.data[i]);
    return out;
  }

  function byName(entries) {
    const out = {};
    for (const e of entries) out[e.name] = floats(e);
    return out;
  }

  // ---------------------------------------------------------------------------------------------- the MLP
  // params: [W0, b0, W1, b1, ...], W row-major (out, in), as maml_lite.model.MLP names "layers.{i}.weight/bias".
  function paramList(entries, sizes) {
    const named = byName(entries), out = [];
    for (let i = 0; i < sizes.length - 1; i++) out.push(named[`layers.${i}.weight`], named[`layers.${i}.bias`]);
    return out;
  }

  function copyParams(params) { return params.map((p) => Float64Array.from(p)); }

  // Predictions at n inputs (rows of `inputs`, n x sizes[0]): Float64Array(n). Layer by layer over all n points;
  // four output units at a time, so four independent sums are in flight (the order of the sums, not the maths,
  // differs from torch's: a few units in the last place).
  function forward(sizes, params, inputs, n) {
    const L = sizes.length - 1;
    let a = inputs;
    for (let l = 0; l < L; l++) {
      const W = params[2 * l], bias = params[2 * l + 1], nin = sizes[l], nout = sizes[l + 1];
      const z = new Float64Array(n * nout), relu = l < L - 1, four = nout - (nout % 4);
      for (let j = 0; j < n; j++) {
        const ai = j * nin, zo = j * nout;
        for (let o = 0; o < four; o += 4) {
          const r0 = o * nin, r1 = r0 + nin, r2 = r1 + nin, r3 = r2 + nin;
          let s0 = bias[o], s1 = bias[o + 1], s2 = bias[o + 2], s3 = bias[o + 3];
          for (let q = 0; q < nin; q++) {
            const v = a[ai + q];
            s0 += W[r0 + q] * v; s1 += W[r1 + q] * v; s2 += W[r2 + q] * v; s3 += W[r3 + q] * v;
          }
          z[zo + o] = s0; z[zo + o + 1] = s1; z[zo + o + 2] = s2; z[zo + o + 3] = s3;
        }
        for (let o = four; o < nout; o++) {
          let s = bias[o];
          for (let q = 0; q < nin; q++) s += W[o * nin + q] * a[ai + q];
          z[zo + o] = s;
        }
        if (relu) for (let o = 0; o < nout; o++) if (z[zo + o] < 0) z[zo + o] = 0;  // NaN stays NaN, as in torch
      }
      a = z;
    }
    return a;
  }

  // The same predictions for the playground's network (input -> H1 -> H2 -> 1, ReLU), faster: x is the first
  // input and every other input (CAVIA's context) is the same at all n points. Between two of the first layer's
  // kinks (x = -c_u / w_u) its output is affine in x, h1 = c + w x on the units that are on, so the second layer's
  // is too: z2 = A + B x, with A and B computed once per run of points that switch on the same units (at most
  // H1 + 1 runs on a sorted grid) instead of once per point. Exact maths, a different order of the sums.
  function forwardKinks(sizes, params, xs, extra) {
    const [d, H1, H2] = sizes, [W0, b0, W1, b1, W2, b2] = params, n = xs.length;
    for (const p of params) for (let i = 0; i < p.length; i++) if (!Number.isFinite(p[i])) return null;
    const w = new Float64Array(H1), c = new Float64Array(H1);
    for (let u = 0; u < H1; u++) {
      w[u] = W0[u * d];
      let s = b0[u];
      for (let q = 1; q < d; q++) s += W0[u * d + q] * extra[q - 1];
      c[u] = s;
    }
    const on = new Uint8Array(H1), A = new Float64Array(H2), B = new Float64Array(H2), out = new Float64Array(n);
    let fresh = false;
    for (let j = 0; j < n; j++) {
      const x = xs[j];
      let same = fresh;
      for (let u = 0; u < H1; u++) {
        const now = c[u] + w[u] * x > 0 ? 1 : 0;
        if (now !== on[u]) { on[u] = now; same = false; }
      }
      if (!same) {  // a kink was crossed: the affine piece of the second layer changes
        for (let o = 0; o < H2; o++) {
          let a = b1[o], b = 0;
          const row = o * H1;
          for (let u = 0; u < H1; u++) if (on[u]) { a += W1[row + u] * c[u]; b += W1[row + u] * w[u]; }
          A[o] = a;
          B[o] = b;
        }
        fresh = true;
      }
      let s = b2[0];
      for (let o = 0; o < H2; o++) {
        const z = A[o] + B[o] * x;
        if (z > 0) s += W2[o] * z;
      }
      out[j] = s;
    }
    return out;
  }

  // MSE on k points and its gradient with respect to every parameter (and the inputs, for CAVIA's context).
  // inputs: k x sizes[0]; y: k targets. Returns {loss, grads: [like params], dinputs: Float64Array(k * sizes[0])}.
  function lossAndGrad(sizes, params, inputs, y, k) {
    const L = sizes.length - 1, acts = [inputs];
    for (let l = 0; l < L; l++) {  // forward, keeping each layer's output (after its ReLU) for the backward pass
      const W = params[2 * l], bias = params[2 * l + 1], nin = sizes[l], nout = sizes[l + 1], a = acts[l];
      const z = new Float64Array(k * nout);
      for (let j = 0; j < k; j++) {
        for (let o = 0; o < nout; o++) {
          let s = bias[o];
          for (let q = 0; q < nin; q++) s += W[o * nin + q] * a[j * nin + q];
          z[j * nout + o] = l < L - 1 && s < 0 ? 0 : s;
        }
      }
      acts.push(z);
    }
    let loss = 0;
    let delta = new Float64Array(k);  // d loss / d output
    for (let j = 0; j < k; j++) {
      const err = acts[L][j] - y[j];
      loss += err * err;
      delta[j] = 2 * err / k;
    }
    const grads = new Array(2 * L);
    for (let l = L - 1; l >= 0; l--) {
      const W = params[2 * l], nin = sizes[l], nout = sizes[l + 1], a = acts[l];
      const gW = new Float64Array(nout * nin), gb = new Float64Array(nout), down = new Float64Array(k * nin);
      for (let j = 0; j < k; j++) {
        for (let o = 0; o < nout; o++) {
          const g = delta[j * nout + o];
          gb[o] += g;
          for (let q = 0; q < nin; q++) {
            gW[o * nin + q] += g * a[j * nin + q];
            down[j * nin + q] += W[o * nin + q] * g;
          }
        }
      }
      if (l > 0) {  // back through the ReLU: torch passes the gradient where its output was > 0
        for (let i = 0; i < k * nin; i++) if (!(a[i] > 0)) down[i] = Number.isNaN(a[i]) ? NaN : 0;
      }
      grads[2 * l] = gW;
      grads[2 * l + 1] = gb;
      delta = down;
    }
    return { loss: loss / k, grads, dinputs: delta };
  }

  // ---------------------------------------------------------------------------------------------- rules
  const sigmoid = (z) => 1 / (1 + Math.exp(-z));

  // (log|g| / p, sign g) where |g| >= e^-p, else (-1, e^p g): learned_opt.preprocess
  function preprocess(g, p, out, at) {
    if (Math.abs(g) >= Math.exp(-p)) {
      out[at] = Math.log(Math.max(Math.abs(g), Math.exp(-p))) / p;
      out[at + 1] = g > 0 ? 1 : g < 0 ? -1 : 0;
    } else {
      out[at] = -1;
      out[at + 1] = Math.exp(p) * g;
    }
    if (Number.isNaN(g)) { out[at] = NaN; out[at + 1] = NaN; }
  }

  // One torch.nn.LSTMCell step for one coordinate: x (nin), h, c (H) at offset; gates i, f, g, o.
  function lstmCell(w, x, nin, h, c, off, H, zbuf) {
    for (let r = 0; r < 4 * H; r++) {
      let s = w.bih[r] + w.bhh[r];
      const ri = r * nin, rh = r * H;
      for (let q = 0; q < nin; q++) s += w.Wih[ri + q] * x[q];
      for (let q = 0; q < H; q++) s += w.Whh[rh + q] * h[off + q];
      zbuf[r] = s;
    }
    for (let q = 0; q < H; q++) {
      const i = sigmoid(zbuf[q]), f = sigmoid(zbuf[H + q]), g = Math.tanh(zbuf[2 * H + q]);
      const o = sigmoid(zbuf[3 * H + q]);
      const cn = f * c[off + q] + i * g;
      c[off + q] = cn;
      h[off + q] = o * Math.tanh(cn);
    }
  }

  function cellWeights(named, prefix) {
    return { Wih: named[`${prefix}.weight_ih`], Whh: named[`${prefix}.weight_hh`],
             bih: named[`${prefix}.bias_ih`], bhh: named[`${prefix}.bias_hh`] };
  }

  // A learned rule's state over n coordinates, and its step: theta (flat), grad (flat), loss -> new theta.
  function makeRule(spec, n) {
    const named = byName(spec.weights), H = spec.hidden, p = spec.p, zbuf = new Float64Array(4 * H);
    const x = new Float64Array(4), hOut = new Float64Array(H);
    if (spec.kind === "lstm") {  // Andrychowicz et al.: theta += out_scale * Linear(LSTM2(LSTM1(pre(g))))
      const c0 = cellWeights(named, "cells.0"), c1 = cellWeights(named, "cells.1");
      const Wo = named["out.weight"], bo = named["out.bias"][0];
      const h1 = new Float64Array(n * H), s1 = new Float64Array(n * H);
      const h2 = new Float64Array(n * H), s2 = new Float64Array(n * H);
      return function step(theta, grad) {
        const out = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          preprocess(grad[j], p, x, 0);
          lstmCell(c0, x, 2, h1, s1, j * H, H, zbuf);
          for (let q = 0; q < H; q++) hOut[q] = h1[j * H + q];
          lstmCell(c1, hOut, H, h2, s2, j * H, H, zbuf);
          let s = bo;
          for (let q = 0; q < H; q++) s += Wo[q] * h2[j * H + q];
          out[j] = theta[j] + spec.out_scale * s;
        }
        return out;
      };
    }
    if (spec.kind === "meta_learner") {  // Ravi & Larochelle: theta <- f o theta - i o g, gates from an LSTM
      const cell = cellWeights(named, "lstm"), Wg = named["gates.weight"], bg = named["gates.bias"];
      const tw = named["theta_weight"], pw = named["previous_weight"];
      const h = new Float64Array(n * H), c = new Float64Array(n * H), prev = new Float64Array(n * 2);
      return function step(theta, grad, loss) {
        const out = new Float64Array(n);
        preprocess(loss, p, x, 2);
        for (let j = 0; j < n; j++) {
          preprocess(grad[j], p, x, 0);
          lstmCell(cell, x, 4, h, c, j * H, H, zbuf);
          let zi = bg[0], zf = bg[1];
          for (let q = 0; q < H; q++) {
            zi += Wg[q] * h[j * H + q];
            zf += Wg[H + q] * h[j * H + q];
          }
          const i = sigmoid(zi + theta[j] * tw[0] + prev[2 * j] * pw[0]);
          const f = sigmoid(zf + theta[j] * tw[1] + prev[2 * j + 1] * pw[1]);
          prev[2 * j] = i;
          prev[2 * j + 1] = f;
          out[j] = f * theta[j] - i * grad[j];
        }
        return out;
      };
    }
    throw new Error(`unknown update rule ${spec.kind}`);
  }

  function flatten(list) {
    let n = 0;
    for (const p of list) n += p.length;
    const out = new Float64Array(n);
    let at = 0;
    for (const p of list) { out.set(p, at); at += p.length; }
    return out;
  }

  function unflatten(flat, like) {
    let at = 0;
    return like.map((p) => { const q = flat.slice(at, at + p.length); at += p.length; return q; });
  }

  // ---------------------------------------------------------------------------------------------- a model
  // One exported model: `adapter(x, y, lr)` gives a trajectory whose `params(s)` / `predict(s, grid)` are lazy.
  function Model(entry) {
    this.name = entry.name;
    this.label = entry.label;
    this.color = entry.color;
    this.notebook = entry.notebook;
    this.update = entry.update;
    this.sizes = entry.sizes;
    this.start = paramList(entry.params, entry.sizes);
    this.nContext = entry.n_context || 0;
    this.contextLr = entry.inner_lr;
    this.rule = entry.rule || null;
    this.usesPageRate = entry.update === "sgd" || entry.update === "head";
    if (entry.update === "rates") this.rates = paramList(entry.rates, entry.sizes);
    if (entry.update === "head") {
      const head = new Set(entry.head);
      const names = [];
      for (let i = 0; i < entry.sizes.length - 1; i++) names.push(`layers.${i}.weight`, `layers.${i}.bias`);
      this.headMask = names.map((nm) => head.has(nm));
    }
  }

  Model.prototype.adapter = function (x, y, lr) { return new Trajectory(this, x, y, lr); };

  // The model adapted to the points (x, y: arrays of k numbers) at step size lr, step by step on demand.
  function Trajectory(model, x, y, lr) {
    this.model = model;
    this.k = x.length;
    this.y = Float64Array.from(y);
    this.lr = lr;
    const d = model.sizes[0];
    this.inputs = new Float64Array(this.k * d);  // x, then the context (0 until adapted)
    for (let j = 0; j < this.k; j++) this.inputs[j * d] = x[j];
    this.states = [model.nContext ? { params: model.start, context: new Float64Array(model.nContext) }
                                  : { params: model.start }];
    this.rule = model.rule && this.k ? makeRule(model.rule, flatten(model.start).length) : null;
    this.preds = [];
  }

  Trajectory.prototype.nextState = function (st) {
    const m = this.model, k = this.k, d = m.sizes[0];
    if (m.update === "context") {
      for (let j = 0; j < k; j++) for (let q = 0; q < m.nContext; q++) this.inputs[j * d + 1 + q] = st.context[q];
      const { dinputs } = lossAndGrad(m.sizes, st.params, this.inputs, this.y, k);
      const context = Float64Array.from(st.context);
      for (let q = 0; q < m.nContext; q++) {
        let g = 0;
        for (let j = 0; j < k; j++) g += dinputs[j * d + 1 + q];
        context[q] -= m.contextLr * g;
      }
      return { params: st.params, context };
    }
    const { loss, grads } = lossAndGrad(m.sizes, st.params, this.inputs, this.y, k);
    if (m.update === "rule") {
      const theta = this.rule(flatten(st.params), flatten(grads), loss);
      return { params: unflatten(theta, st.params) };
    }
    const params = st.params.map((p, i) => {
      const g = grads[i], out = new Float64Array(p.length);
      if (m.update === "rates") {
        const r = m.rates[i];
        for (let q = 0; q < p.length; q++) out[q] = p[q] - r[q] * g[q];
      } else {
        const rate = m.update === "head" && !m.headMask[i] ? 0 : this.lr;
        for (let q = 0; q < p.length; q++) out[q] = p[q] - rate * g[q];
      }
      return out;
    });
    return { params };
  };

  // The parameters (and context) after `step` steps; with no points, the start at every step.
  Trajectory.prototype.state = function (step) {
    if (!this.k) return this.states[0];
    while (this.states.length <= step) this.states.push(this.nextState(this.states[this.states.length - 1]));
    return this.states[step];
  };

  // Predictions on the grid (n x values, a Float64Array) after `step` steps; cached per step.
  Trajectory.prototype.predict = function (step, grid) {
    if (this.preds[step]) return this.preds[step];
    const m = this.model, st = this.state(step), d = m.sizes[0], n = grid.length;
    const context = st.context || new Float64Array(0);
    let out = m.sizes.length === 4 && m.sizes[3] === 1 ? forwardKinks(m.sizes, st.params, grid, context) : null;
    if (out === null) {  // another shape, or non-finite weights (a diverged model): the plain forward pass
      let inputs = grid;
      if (d > 1) {
        inputs = new Float64Array(n * d);
        for (let j = 0; j < n; j++) {
          inputs[j * d] = grid[j];
          for (let q = 1; q < d; q++) inputs[j * d + q] = context[q - 1];
        }
      }
      out = forward(m.sizes, st.params, inputs, n);
    }
    this.preds[step] = out;
    return out;
  };

  root.MamlLite = { Model, forward, forwardKinks, lossAndGrad, preprocess, makeRule,
                    models: (weights) => weights.models.map((e) => new Model(e)) };
})(typeof window !== "undefined" ? window : globalThis);
