// The character playground's drawing pad (DrawPad in maml_lite/playground/characters.py): draw a
// character with the mouse (or a finger); on release the drawing goes back to Python as 28x28 ink
// values in [0, 1], each the mean ink of a 7x7 block of the 196x196 pad. "clear" empties it.
// A plain ES module with no imports: it runs wherever anywidget does, offline too.

const SIDE = 196, CELL = 7, N = 28; // CSS pixels; SIDE = N * CELL

function ink(canvas) {
  // the pad's alpha, averaged over each CELL x CELL block: N * N numbers in [0, 1], row by row
  const ctx = canvas.getContext("2d");
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const scale = canvas.width / SIDE, block = CELL * scale, out = new Array(N * N).fill(0);
  for (let py = 0; py < canvas.height; py++) {
    for (let px = 0; px < canvas.width; px++) {
      const i = Math.min(N - 1, Math.floor(py / block)) * N + Math.min(N - 1, Math.floor(px / block));
      out[i] += data[4 * (py * canvas.width + px) + 3] / 255;
    }
  }
  return out.map((v) => Math.min(1, v / (block * block)));
}

function render({ model, el }) {
  const ratio = window.devicePixelRatio || 1;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = Math.round(SIDE * ratio);
  Object.assign(canvas.style, {
    width: `${SIDE}px`, height: `${SIDE}px`, border: "1px solid #888", cursor: "crosshair",
    touchAction: "none", background: "#fff",
  });
  const clear = document.createElement("button");
  clear.textContent = "clear";
  clear.className = "maml-drawpad-clear";
  el.append(canvas, clear);
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  Object.assign(ctx, { lineWidth: 13, lineCap: "round", lineJoin: "round", strokeStyle: "#000" });
  let last = null;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * SIDE) / box.width,
            ((event.clientY - box.top) * SIDE) / box.height];
  };
  const down = (event) => {
    last = at(event);
    canvas.setPointerCapture(event.pointerId);
  };
  const move = (event) => {
    if (!last) return;
    const next = at(event);
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...next);
    ctx.stroke();
    last = next;
  };
  const up = () => {
    if (!last) return;
    last = null;
    model.set("ink", ink(canvas));
    model.save_changes();
  };
  const wipe = () => {
    ctx.clearRect(0, 0, SIDE, SIDE);
    model.set("ink", []);
    model.save_changes();
  };
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointerleave", up);
  clear.addEventListener("click", wipe);
  return () => {
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointerleave", up);
    clear.removeEventListener("click", wipe);
  };
}

export default { render };
