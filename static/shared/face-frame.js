// The try-on view framed on the face(s): in a full-length photo a face is a few dozen pixels wide on a phone.
// A shared piece (static/shared/): the page's try-on tab and <shoplens-tryon> use the same geometry.
(() => {
  // "x,y,w,h;x,y,w,h" (the X-Face-Boxes header of /api/v1/tryon) -> [[x, y, w, h], ...] in photo pixels.
  function parseBoxes(header) {
    return (header || "").split(";").filter(Boolean).map((box) => box.split(",").map(Number))
      .filter((box) => box.length === 4 && box.every(Number.isFinite));
  }

  // The faces' box with room for hair and neck, portrait-shaped (4:5), inside the photo, as fractions of it;
  // null when that is most of the photo anyway (a selfie).
  function faceFrame(faces, width, height) {
    if (!faces.length || !width || !height) return null;
    let left = Math.min(...faces.map((f) => f[0])), top = Math.min(...faces.map((f) => f[1]));
    let right = Math.max(...faces.map((f) => f[0] + f[2])), bottom = Math.max(...faces.map((f) => f[1] + f[3]));
    const size = Math.max(right - left, bottom - top);
    left -= 0.6 * size; right += 0.6 * size; top -= 0.7 * size; bottom += 0.9 * size;
    let w = right - left, h = bottom - top;
    if (w / h < 0.8) w = 0.8 * h; else h = w / 0.8;
    w = Math.min(w, width); h = Math.min(h, height);
    const cx = (left + right) / 2, cy = (top + bottom) / 2;
    const x = Math.min(Math.max(cx - w / 2, 0), width - w), y = Math.min(Math.max(cy - h / 2, 0), height - h);
    if ((w * h) / (width * height) > 0.5) return null;
    return { x: x / width, y: y / height, w: w / width, h: h / height };
  }

  // Styles that show only `frame` of a picture of width x height: the stage's aspect ratio, and the size and
  // offset of each picture inside it (both pictures of a before/after pair get the same ones).
  function frameLayout(frame, width, height) {
    if (!frame) return { stage: "", picture: { width: "", height: "", left: "", top: "" } };
    return {
      stage: `${(frame.w * width) / (frame.h * height)}`,
      picture: { width: `${100 / frame.w}%`, height: `${100 / frame.h}%`,
                 left: `${(-100 * frame.x) / frame.w}%`, top: `${(-100 * frame.y) / frame.h}%` },
    };
  }

  // The before/after split: the slider's position on the visible frame, as a left inset of the whole picture.
  function splitInset(frame, value) {
    return frame ? 100 * (frame.x + (value / 100) * frame.w) : Number(value);
  }

  return { parseBoxes, faceFrame, frameLayout, splitInset };
})()
