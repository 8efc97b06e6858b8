// The playground's plot (ClickCanvas in maml_lite/playground/view.py), drawn on an HTML canvas from
// the `plot` trait: axes, each model's curve, the true curve (dashed), the support points, a
// legend. A click anywhere on the canvas goes back to Python as {event: "click", x, y} in data
// coordinates. A plain ES module with no imports: it runs wherever anywidget does (JupyterLab,
// Notebook, Colab, VS Code, Voila), offline too.

const WIDTH = 680, HEIGHT = 330; // CSS pixels
// the axes; the legend is to their right
const BOX = { left: 52, right: 494, top: 30, bottom: 286 };
const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

function ticks(lo, hi, count) {
  // round values between lo and hi, about `count` of them
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) {
    out.push(Math.abs(v) < 1e-9 * step ? 0 : v);
  }
  return out;
}

function scales(plot) {
  const [x0, x1] = plot.xlim, [y0, y1] = plot.ylim;
  return {
    px: (x) => BOX.left + ((x - x0) / (x1 - x0)) * (BOX.right - BOX.left),
    py: (y) => BOX.bottom - ((y - y0) / (y1 - y0)) * (BOX.bottom - BOX.top),
    x: (px) => x0 + ((px - BOX.left) / (BOX.right - BOX.left)) * (x1 - x0),
    y: (py) => y0 + ((BOX.bottom - py) / (BOX.bottom - BOX.top)) * (y1 - y0),
  };
}

function draw(canvas, plot) {
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(WIDTH * ratio)) {
    canvas.width = Math.round(WIDTH * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, WIDTH, HEIGHT);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, WIDTH, HEIGHT);
  if (!plot || !plot.xlim) return;
  const { px, py } = scales(plot);
  const line = (color, width, dash) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
  };

  // Grid, ticks and their labels, the frame.
  ctx.font = FONT;
  ctx.fillStyle = "#333333";
  line("#e6e6e6", 1, []);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of ticks(plot.xlim[0], plot.xlim[1], 5)) {
    ctx.beginPath();
    ctx.moveTo(px(v), BOX.top);
    ctx.lineTo(px(v), BOX.bottom);
    ctx.stroke();
    ctx.fillText(String(+v.toFixed(6)), px(v), BOX.bottom + 5);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of ticks(plot.ylim[0], plot.ylim[1], 6)) {
    ctx.beginPath();
    ctx.moveTo(BOX.left, py(v));
    ctx.lineTo(BOX.right, py(v));
    ctx.stroke();
    ctx.fillText(String(+v.toFixed(6)), BOX.left - 6, py(v));
  }
  line("#333333", 1, []);
  ctx.strokeRect(BOX.left, BOX.top, BOX.right - BOX.left, BOX.bottom - BOX.top);
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  ctx.fillText(plot.xlabel, (BOX.left + BOX.right) / 2, BOX.bottom + 34);
  ctx.save();
  ctx.translate(BOX.left - 36, (BOX.top + BOX.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(plot.ylabel, 0, 0);
  ctx.restore();
  ctx.font = "bold 13px " + FONT.split("px ")[1];
  ctx.fillText(plot.title, (BOX.left + BOX.right) / 2, BOX.top - 10);

  // The curves and the points, clipped to the axes.
  ctx.save();
  ctx.beginPath();
  ctx.rect(BOX.left, BOX.top, BOX.right - BOX.left, BOX.bottom - BOX.top);
  ctx.clip();
  const curve = (ys, color, width, dash) => {
    line(color, width, dash);
    ctx.beginPath();
    ys.forEach((y, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, px(plot.x[i]), py(y)));
    ctx.stroke();
  };
  curve(plot.truth, plot.truth_color, 1.5, [6, 4]);
  for (const c of plot.curves) if (c.y) curve(c.y, c.color, 2, []);
  ctx.fillStyle = plot.truth_color;
  for (const [x, y] of plot.points) {
    ctx.beginPath();
    ctx.arc(px(x), py(y), 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.restore();

  // The legend, right of the axes: the true curve, each model, the points.
  ctx.font = FONT;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const x = BOX.right + 12;
  let y = BOX.top + 8;
  const entry = (label, draw) => {
    draw();
    ctx.fillStyle = "#333333";
    ctx.fillText(label, x + 30, y);
    y += 19;
  };
  const sample = (color, width, dash) => () => {
    line(color, width, dash);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 24, y);
    ctx.stroke();
  };
  entry(plot.truth_label, sample(plot.truth_color, 1.5, [6, 4]));
  for (const c of plot.curves) entry(c.label, sample(c.color, 2, c.y ? [] : [2, 3]));
  entry(plot.points_label, () => {
    ctx.fillStyle = plot.truth_color;
    ctx.beginPath();
    ctx.arc(x + 12, y, 4, 0, 2 * Math.PI);
    ctx.fill();
  });
  line("#333333", 1, []);
}

function render({ model, el }) {
  const canvas = document.createElement("canvas");
  Object.assign(canvas.style, {
    width: `${WIDTH}px`, maxWidth: "100%", display: "block", cursor: "crosshair",
  });
  el.appendChild(canvas);
  const redraw = () => draw(canvas, model.get("plot"));
  const click = (event) => {
    const plot = model.get("plot");
    if (!plot || !plot.xlim) return;
    const box = canvas.getBoundingClientRect();
    const { x, y } = scales(plot);
    const cx = ((event.clientX - box.left) * WIDTH) / box.width;
    const cy = ((event.clientY - box.top) * HEIGHT) / box.height;
    model.send({ event: "click", x: x(cx), y: y(cy) });
  };
  model.on("change:plot", redraw);
  canvas.addEventListener("click", click);
  redraw();
  return () => {
    model.off("change:plot", redraw);
    canvas.removeEventListener("click", click);
  };
}

export default { render };
