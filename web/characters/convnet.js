// The character playground's maths in plain JavaScript: notebook 08's conv net adapting to one drawing of each
// class, with no kernel (characters.js is the page around it).
//
// The same maths as the package, in float64 from the checkpoints' float32 weights (data.js, written by
// `python -m maml_lite.playground.export_characters`):
//   features  maml_lite.omniglot.features: 4 x [3x3 conv, stride 2, padding 1, no bias; batch norm with the
//             batch's own statistics (biased variance, eps 1e-5); ReLU], 28 -> 14 -> 7 -> 4 -> 2, then the mean
//             over the 2x2: (n, 64). Batch norm makes every image's features depend on the whole batch, so the
//             batches are the package's: the support set alone for a step, all the queries (and the drawing,
//             appended last) for a prediction.
//   sgd       MAML and first-order MAML (maml_lite.method.MAML): every weight <- weight - inner_lr * gradient of
//             the support cross-entropy (mean over the support drawings), by backpropagation through the net.
//   protos    ProtoNet: logits -||f(x) - c_k||^2, c_k the mean support feature of class k; every step the same.
//   head      the fine-tuning baseline (maml_lite.methods.finetune): the body frozen, a zero linear head on the
//             L2-normalised features fit by gradient descent on the cross-entropy + weight_decay / 2 ||W||^2.
// The whole file is one function, so characters.js can start it in a Worker made from its own text (a Blob: that
// works opened as a file, too); run() does an episode's work in chunks, handing back each result as it is ready.
// tests/browser/test_static_characters.py checks every model against the package after 0..10 steps.
function mamlLiteConvnet(root) {
  "use strict";
  const SIZE = 28, EPS = 1e-5, NORM_EPS = 1e-12;

  // ---------------------------------------------------------------------------------------------- decoding
  function bytesOf(base64) {
    const text = atob(base64), out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  async function inflate(bytes) {  // zlib (RFC 1950) -> bytes, by the browser's own DecompressionStream
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // {encoding: "zlib+base64" | "shuffle4+zlib+base64", dtype: "uint8" | "float32", count, data} -> the array.
  // shuffle4: a float32 array's bytes stored plane by plane (every number's first byte, then every second, ...),
  // which deflates better; float32 little-endian, so each number reads back bit for bit.
  async function decode(blob) {
    const raw = await inflate(bytesOf(blob.data));
    if (blob.dtype === "uint8") return raw;
    const n = blob.count, bytes = new Uint8Array(4 * n);
    if (raw.length !== 4 * n) throw new Error(`expected ${4 * n} bytes of float32, got ${raw.length}`);
    for (let plane = 0; plane < 4; plane++) {
      for (let i = 0; i < n; i++) bytes[4 * i + plane] = raw[plane * n + i];
    }
    const view = new DataView(bytes.buffer), out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }

  // A model entry of data.js -> {name, adapt, ..., params: {name: Float64Array}, shapes: {name: shape}}.
  async function loadModel(entry) {
    const flat = await decode(entry.weights), params = {}, shapes = {};
    for (const p of entry.params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      params[p.name] = flat.slice(p.offset, p.offset + size);
      shapes[p.name] = p.shape;
    }
    const { weights, ...rest } = entry;
    return { ...rest, params, shapes };
  }

  // ---------------------------------------------------------------------------------------------- episodes
  // maml_lite.playground.characters.episode: drawing `drawer` (0..19) of each class is its example (label k for
  // classes[k]), the other 19 drawings of each, class by class, are the queries; ink is the package's float32
  // uint8 / 255. A drawing (784 numbers in [0, 1], rounded to float32 as the playground's tensor) is one more query,
  // last. images: Uint8Array (classes, 20, 28, 28).
  function episode(images, classes, drawer, drawing) {
    const px = SIZE * SIZE, drawers = 20, ways = classes.length, others = drawers - 1;
    const nq = ways * others + (drawing ? 1 : 0);
    const support = new Float64Array(ways * px), query = new Float64Array(nq * px);
    const labels = new Int32Array(ways), queryLabels = new Int32Array(ways * others);
    const ink = (c, d, out, at) => {
      const base = (c * drawers + d) * px;
      for (let i = 0; i < px; i++) out[at + i] = Math.fround(images[base + i] / 255);
    };
    let q = 0;
    for (let k = 0; k < ways; k++) {
      labels[k] = k;
      ink(classes[k], drawer, support, k * px);
      for (let d = 0; d < drawers; d++) {
        if (d === drawer) continue;
        queryLabels[q] = k;
        ink(classes[k], d, query, q++ * px);
      }
    }
    if (drawing) for (let i = 0; i < px; i++) query[q * px + i] = Math.fround(drawing[i]);
    return { support, labels, query, nq, queryLabels, ways };
  }

  // ---------------------------------------------------------------------------------------------- the body
  // Activations are Float64Array (n, channels, side, side), row-major. A 3x3 convolution with stride 2 and padding 1
  // takes side s to (s + 1) >> 1. Each image is unrolled into `cols` (positions, channels * 9), k = c * 9 + ky * 3 +
  // kx as torch lays out a weight (out, in, 3, 3); then four output channels at a time dot their rows with it.
  function unroll(x, image, cin, s, cols) {
    const o = (s + 1) >> 1, K = cin * 9, base = image * cin * s * s;
    for (let oy = 0; oy < o; oy++) {
      for (let ox = 0; ox < o; ox++) {
        const row = (oy * o + ox) * K;
        for (let c = 0; c < cin; c++) {
          const plane = base + c * s * s;
          for (let ky = 0; ky < 3; ky++) {
            const iy = 2 * oy + ky - 1, k = row + c * 9 + ky * 3;
            for (let kx = 0; kx < 3; kx++) {
              const ix = 2 * ox + kx - 1;
              cols[k + kx] = iy >= 0 && iy < s && ix >= 0 && ix < s ? x[plane + iy * s + ix] : 0;
            }
          }
        }
      }
    }
  }

  function conv(x, n, cin, s, w, cout, keep) {  // -> {out (n, cout, o, o), cols: [per image] if keep}
    const o = (s + 1) >> 1, P = o * o, K = cin * 9, out = new Float64Array(n * cout * P), kept = [];
    let cols = new Float64Array(P * K);
    const four = cout - (cout % 4);
    for (let i = 0; i < n; i++) {
      if (keep) cols = new Float64Array(P * K);
      unroll(x, i, cin, s, cols);
      const ob = i * cout * P;
      for (let co = 0; co < four; co += 4) {
        const r0 = co * K, r1 = r0 + K, r2 = r1 + K, r3 = r2 + K;
        let p = 0;
        for (; p + 1 < P; p += 2) {  // two positions by four channels: 8 sums from 6 loads
          const cp = p * K, cq = cp + K;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
          for (let k = 0; k < K; k++) {
            const v = cols[cp + k], u = cols[cq + k], a = w[r0 + k], b = w[r1 + k], c = w[r2 + k], d = w[r3 + k];
            s0 += a * v; s1 += b * v; s2 += c * v; s3 += d * v;
            t0 += a * u; t1 += b * u; t2 += c * u; t3 += d * u;
          }
          const o0 = ob + co * P + p;
          out[o0] = s0; out[o0 + P] = s1; out[o0 + 2 * P] = s2; out[o0 + 3 * P] = s3;
          out[o0 + 1] = t0; out[o0 + P + 1] = t1; out[o0 + 2 * P + 1] = t2; out[o0 + 3 * P + 1] = t3;
        }
        for (; p < P; p++) {
          const cp = p * K;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (let k = 0; k < K; k++) {
            const v = cols[cp + k];
            s0 += w[r0 + k] * v; s1 += w[r1 + k] * v; s2 += w[r2 + k] * v; s3 += w[r3 + k] * v;
          }
          out[ob + co * P + p] = s0; out[ob + (co + 1) * P + p] = s1;
          out[ob + (co + 2) * P + p] = s2; out[ob + (co + 3) * P + p] = s3;
        }
      }
      for (let co = four; co < cout; co++) {
        for (let p = 0; p < P; p++) {
          let sum = 0;
          for (let k = 0; k < K; k++) sum += w[co * K + k] * cols[p * K + k];
          out[ob + co * P + p] = sum;
        }
      }
      if (keep) kept.push(cols);
    }
    return { out, cols: kept };
  }

  // Batch norm with the batch's statistics over (n, side, side) per channel, then ReLU, in place on h.
  // Returns what the backward pass needs: xhat (before gamma and beta) and 1 / sqrt(var + eps) per channel.
  function normRelu(h, n, c, P, gamma, beta) {
    const xhat = new Float64Array(h.length), inv = new Float64Array(c), M = n * P;
    for (let ch = 0; ch < c; ch++) {
      let mean = 0;
      for (let i = 0; i < n; i++) { const b = (i * c + ch) * P; for (let p = 0; p < P; p++) mean += h[b + p]; }
      mean /= M;
      let v = 0;
      for (let i = 0; i < n; i++) {
        const b = (i * c + ch) * P;
        for (let p = 0; p < P; p++) { const d = h[b + p] - mean; v += d * d; }
      }
      inv[ch] = 1 / Math.sqrt(v / M + EPS);
      for (let i = 0; i < n; i++) {
        const b = (i * c + ch) * P;
        for (let p = 0; p < P; p++) {
          const t = (h[b + p] - mean) * inv[ch];
          xhat[b + p] = t;
          const y = gamma[ch] * t + beta[ch];
          h[b + p] = y > 0 ? y : 0;
        }
      }
    }
    return { xhat, inv };
  }

  // The conv body on n images (n, 1, 28, 28): features (n, hidden); with keep, the tape for `backward`.
  function features(params, images, n, keep) {
    let h = images, s = SIZE, cin = 1;
    const tape = [];
    for (let l = 0; l < 4; l++) {
      const w = params[`convs.${l}.weight`], cout = w.length / (cin * 9), o = (s + 1) >> 1;
      const { out, cols } = conv(h, n, cin, s, w, cout, keep);
      const { xhat, inv } = normRelu(out, n, cout, o * o, params[`norms.${l}.weight`], params[`norms.${l}.bias`]);
      if (keep) tape.push({ cols, xhat, inv, out, cin, s, cout, o });
      h = out;
      s = o;
      cin = cout;
    }
    const P = s * s, z = new Float64Array(n * cin);
    for (let i = 0; i < n * cin; i++) {
      let sum = 0;
      for (let p = 0; p < P; p++) sum += h[i * P + p];
      z[i] = sum / P;
    }
    return { z, hidden: cin, tape };
  }

  // Gradients of the body's weights given d loss / d features dz (n, hidden), from the tape of `features`.
  function backward(params, tape, dz, n) {
    const grads = {};
    const last = tape[tape.length - 1], P4 = last.o * last.o;
    let dh = new Float64Array(n * last.cout * P4);  // d loss / d (ReLU output) of the last block
    for (let i = 0; i < n * last.cout; i++) for (let p = 0; p < P4; p++) dh[i * P4 + p] = dz[i] / P4;
    for (let l = tape.length - 1; l >= 0; l--) {
      const { cols, xhat, inv, out, cin, s, cout, o } = tape[l], P = o * o, M = n * P, K = cin * 9;
      const gamma = params[`norms.${l}.weight`], dg = new Float64Array(cout), db = new Float64Array(cout);
      const dy = new Float64Array(dh.length);  // d loss / d (batch norm output): ReLU passes where it was > 0
      for (let i = 0; i < dh.length; i++) dy[i] = out[i] > 0 ? dh[i] : 0;
      const dconv = new Float64Array(dh.length);
      for (let ch = 0; ch < cout; ch++) {
        let sg = 0, sb = 0;
        for (let i = 0; i < n; i++) {
          const b = (i * cout + ch) * P;
          for (let p = 0; p < P; p++) { sg += dy[b + p] * xhat[b + p]; sb += dy[b + p]; }
        }
        dg[ch] = sg;
        db[ch] = sb;
        const g = gamma[ch], k = inv[ch] / M;  // dx = inv / M (M g dy - g sum dy - xhat g sum(dy xhat))
        for (let i = 0; i < n; i++) {
          const b = (i * cout + ch) * P;
          for (let p = 0; p < P; p++) dconv[b + p] = k * (M * g * dy[b + p] - g * sb - xhat[b + p] * g * sg);
        }
      }
      grads[`norms.${l}.weight`] = dg;
      grads[`norms.${l}.bias`] = db;
      const w = params[`convs.${l}.weight`], dw = new Float64Array(w.length);
      const dx = l > 0 ? new Float64Array(n * cin * s * s) : null;
      const dcols = new Float64Array(P * K);
      for (let i = 0; i < n; i++) {
        const c = cols[i], ob = i * cout * P;
        if (dx) dcols.fill(0);
        for (let co = 0; co < cout; co++) {  // one pass: the weights' gradient and the unrolled input's
          const r = co * K;
          for (let p = 0; p < P; p++) {
            const d = dconv[ob + co * P + p];
            if (d === 0) continue;
            const cp = p * K;
            for (let q = 0; q < K; q++) dw[r + q] += d * c[cp + q];
            if (dx) for (let q = 0; q < K; q++) dcols[cp + q] += d * w[r + q];
          }
        }
        if (!dx) continue;
        const base = i * cin * s * s;  // fold the unrolled gradient back onto the input's pixels
        for (let oy = 0; oy < o; oy++) {
          for (let ox = 0; ox < o; ox++) {
            const row = (oy * o + ox) * K;
            for (let ci = 0; ci < cin; ci++) {
              for (let ky = 0; ky < 3; ky++) {
                const iy = 2 * oy + ky - 1;
                if (iy < 0 || iy >= s) continue;
                for (let kx = 0; kx < 3; kx++) {
                  const ix = 2 * ox + kx - 1;
                  if (ix >= 0 && ix < s) dx[base + ci * s * s + iy * s + ix] += dcols[row + ci * 9 + ky * 3 + kx];
                }
              }
            }
          }
        }
      }
      grads[`convs.${l}.weight`] = dw;
      dh = dx;
    }
    return grads;
  }

  // ---------------------------------------------------------------------------------------------- heads, losses
  function linear(z, n, d, W, b, ways) {  // z (n, d) W^T (d, ways) + b -> logits (n, ways)
    const out = new Float64Array(n * ways);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < ways; k++) {
        let sum = b[k];
        for (let j = 0; j < d; j++) sum += z[i * d + j] * W[k * d + j];
        out[i * ways + k] = sum;
      }
    }
    return out;
  }

  function softmax(logits, n, ways) {  // row by row, the largest logit subtracted first (as torch)
    const out = new Float64Array(n * ways);
    for (let i = 0; i < n; i++) {
      let top = -Infinity, sum = 0;
      for (let k = 0; k < ways; k++) top = Math.max(top, logits[i * ways + k]);
      for (let k = 0; k < ways; k++) { out[i * ways + k] = Math.exp(logits[i * ways + k] - top); sum += out[i * ways + k]; }
      for (let k = 0; k < ways; k++) out[i * ways + k] /= sum;
    }
    return out;
  }

  // d (mean cross-entropy over the n rows) / d logits = (softmax - one hot) / n
  function crossEntropyGrad(logits, labels, n, ways) {
    const g = softmax(logits, n, ways);
    for (let i = 0; i < n; i++) {
      g[i * ways + labels[i]] -= 1;
      for (let k = 0; k < ways; k++) g[i * ways + k] /= n;
    }
    return g;
  }

  function normalized(z, n, d) {  // F.normalize: each row / max(||row||, 1e-12)
    const out = new Float64Array(z.length);
    for (let i = 0; i < n; i++) {
      let sq = 0;
      for (let j = 0; j < d; j++) sq += z[i * d + j] * z[i * d + j];
      const norm = Math.max(Math.sqrt(sq), NORM_EPS);
      for (let j = 0; j < d; j++) out[i * d + j] = z[i * d + j] / norm;
    }
    return out;
  }

  // ConvNet.with_ways: a head of `ways` rows; fewer than the checkpoint's keep its first rows, more start every
  // class from the mean row (equal logits).
  function withWays(params, shapes, ways) {
    const [rows, d] = shapes["head.weight"], W = params["head.weight"], b = params["head.bias"];
    if (rows === ways) return params;
    const hw = new Float64Array(ways * d), hb = new Float64Array(ways);
    if (ways <= rows) {
      hw.set(W.subarray(0, ways * d));
      hb.set(b.subarray(0, ways));
    } else {
      let mb = 0;
      for (let r = 0; r < rows; r++) mb += b[r];
      for (let j = 0; j < d; j++) {
        let m = 0;
        for (let r = 0; r < rows; r++) m += W[r * d + j];
        for (let k = 0; k < ways; k++) hw[k * d + j] = m / rows;
      }
      hb.fill(mb / rows);
    }
    return { ...params, "head.weight": hw, "head.bias": hb };
  }

  // ---------------------------------------------------------------------------------------------- the methods
  // Each returns a list of jobs; a job does a slice of the work and may report({step, probs}) for finished steps.
  // task: {support (ways, 1, 28, 28), labels (ways), query (nq, 1, 28, 28), nq, ways, steps}.
  function sgdJobs(model, task, report) {
    const { support, labels, query, nq, ways, steps } = task, ns = labels.length;
    let params = withWays(model.params, model.shapes, ways);
    const jobs = [];
    for (let s = 0; s <= steps; s++) {
      const current = s;
      jobs.push(() => {  // predict on every query with the weights after `current` steps
        const { z, hidden } = features(params, query, nq, false);
        report(current, softmax(linear(z, nq, hidden, params["head.weight"], params["head.bias"], ways), nq, ways));
      });
      if (s === steps) break;
      jobs.push(() => {  // one SGD step on the support cross-entropy
        const { z, hidden, tape } = features(params, support, ns, true);
        const W = params["head.weight"], b = params["head.bias"];
        const g = crossEntropyGrad(linear(z, ns, hidden, W, b, ways), labels, ns, ways);
        const dW = new Float64Array(W.length), db = new Float64Array(ways), dz = new Float64Array(ns * hidden);
        for (let i = 0; i < ns; i++) {
          for (let k = 0; k < ways; k++) {
            const gk = g[i * ways + k];
            db[k] += gk;
            for (let j = 0; j < hidden; j++) { dW[k * hidden + j] += gk * z[i * hidden + j]; dz[i * hidden + j] += gk * W[k * hidden + j]; }
          }
        }
        const grads = { ...backward(params, tape, dz, ns), "head.weight": dW, "head.bias": db };
        const next = {};
        for (const [name, p] of Object.entries(params)) {
          const q = new Float64Array(p.length), d = grads[name];
          for (let i = 0; i < p.length; i++) q[i] = p[i] - model.inner_lr * d[i];
          next[name] = q;
        }
        params = next;
      });
    }
    return jobs;
  }

  function protoJobs(model, task, report) {
    const { support, labels, query, nq, ways, steps } = task, ns = labels.length;
    return [() => {
      const zs = features(model.params, support, ns, false), d = zs.hidden;
      const protos = new Float64Array(ways * d), count = new Float64Array(ways);
      for (let i = 0; i < ns; i++) {
        count[labels[i]] += 1;
        for (let j = 0; j < d; j++) protos[labels[i] * d + j] += zs.z[i * d + j];
      }
      for (let k = 0; k < ways; k++) for (let j = 0; j < d; j++) protos[k * d + j] /= count[k];
      const { z } = features(model.params, query, nq, false), logits = new Float64Array(nq * ways);
      for (let i = 0; i < nq; i++) {
        for (let k = 0; k < ways; k++) {
          let sum = 0;
          for (let j = 0; j < d; j++) { const e = z[i * d + j] - protos[k * d + j]; sum += e * e; }
          logits[i * ways + k] = -sum;
        }
      }
      const probs = softmax(logits, nq, ways);
      for (let s = 0; s <= steps; s++) report(s, probs);  // no step changes the prototypes
    }];
  }

  function headJobs(model, task, report) {
    const { support, labels, query, nq, ways, steps } = task, ns = labels.length;
    return [() => {
      const zs = features(model.params, support, ns, false), d = zs.hidden;
      const s = normalized(zs.z, ns, d), zq = normalized(features(model.params, query, nq, false).z, nq, d);
      let W = new Float64Array(ways * d), b = new Float64Array(ways);
      for (let step = 0; step <= steps; step++) {
        report(step, softmax(linear(zq, nq, d, W, b, ways), nq, ways));
        if (step === steps) break;
        const g = crossEntropyGrad(linear(s, ns, d, W, b, ways), labels, ns, ways);
        const nW = new Float64Array(W.length), nb = new Float64Array(ways);
        for (let k = 0; k < ways; k++) {
          let gb = 0;
          for (let i = 0; i < ns; i++) gb += g[i * ways + k];
          nb[k] = b[k] - model.inner_lr * gb;
          for (let j = 0; j < d; j++) {
            let gw = model.weight_decay * W[k * d + j];
            for (let i = 0; i < ns; i++) gw += g[i * ways + k] * s[i * d + j];
            nW[k * d + j] = W[k * d + j] - model.inner_lr * gw;
          }
        }
        W = nW;
        b = nb;
      }
    }];
  }

  const METHODS = { sgd: sgdJobs, protos: protoJobs, head: headJobs };

  // How many jobs `run` does for these models: an SGD model's 2 * steps + 1 (a prediction per state, a step between
  // each), one for the others.
  function jobs(models, steps) {
    return models.reduce((n, m) => n + (m.adapt === "sgd" ? 2 * steps + 1 : 1), 0);
  }

  // Every model's probabilities on the queries after 0..steps steps, a job at a time: the cheap models first, then
  // MAML's and first-order MAML's steps interleaved, so every model's step 0 shows early. onResult(name, step, probs
  // (nq, ways) Float64Array); cancelled() is asked between jobs; onDone when all is done. `later(f)` runs f after the
  // browser had a chance to do other work (setTimeout), so a page that runs this itself stays responsive.
  function run(models, task, { onResult, onProgress, onDone, onError, cancelled, later }) {
    const lists = models.map((m) => {
      if (!METHODS[m.adapt]) throw new Error(`no JavaScript version of ${m.name}'s adaptation ${m.adapt}`);
      return METHODS[m.adapt](m, task, (step, probs) => onResult(m.name, step, probs));
    });
    const order = [];
    lists.sort((a, b) => a.length - b.length);
    const longest = Math.max(...lists.map((l) => l.length));
    for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) order.push(l[i]);
    let next = 0;
    const work = () => {
      if (cancelled()) return;
      try {
        order[next]();
        next += 1;
        onProgress(next, order.length);
        if (next < order.length) later(work); else onDone();
      } catch (error) {
        onError(error);
      }
    };
    later(work);
  }

  // The Worker's side: {type: "models", models} once (as loadModel returns them), then {type: "adapt", id, task};
  // answers {type: "result" | "progress" | "done" | "error", id, ...}. A newer "adapt" cancels the one under way.
  function serve(scope) {
    let models = [], latest = -1;
    scope.onmessage = (event) => {
      const m = event.data;
      if (m.type === "models") { models = m.models; return; }
      if (m.type !== "adapt") return;
      const id = m.id;
      latest = id;
      const post = (what) => scope.postMessage({ id, ...what });
      try {
        run(models, m.task, {
          onResult: (name, step, probs) => post({ type: "result", name, step, probs }),
          onProgress: (done, total) => post({ type: "progress", done, total }),
          onDone: () => post({ type: "done" }),
          onError: (error) => post({ type: "error", message: String(error && error.message || error) }),
          cancelled: () => latest !== id,
          later: (f) => setTimeout(f, 0),
        });
      } catch (error) {
        post({ type: "error", message: String(error && error.message || error) });
      }
    };
  }

  root.MamlConvnet = { episode, jobs, decode, loadModel, features, backward, softmax, withWays, run, serve, SIZE };
}
mamlLiteConvnet(typeof self !== "undefined" ? self : globalThis);
