// shoplens live try-on renderer: the makeup drawn on a camera frame with WebGL2, on the shopper's device.
// It follows vision/makeup.py and vision/masks.py (the server's renderer) step by step (and, as OpenCV does there,
// takes a landmark at (x, y) to sit on the centre of pixel (x, y)), with the shapes,
// recipes and landmark index sets the server hands out at /api/v1/tryon/live:
//   1. zone masks: each zone's landmark polygon (grown as OpenCV's anti-aliased fill grows it) filled as a
//      triangle fan with an "invert" blend (even-odd fill, any simple polygon), then feathered by a separable
//      Gaussian whose sigma is a share of the eye-corner distance; blush is an analytic, feathered ellipse; the
//      mouth opening and the eyes are cut out hard, with a grown and feathered guard around them;
//   2. per zone, the mean CIELAB colour of its fully covered core (measured on the CPU from the same frame);
//   3. per pixel, the server's colour model: lightness shifted toward the shade keeping each pixel's deviation
//      from the zone mean, chroma pulled to the shade's, then the finish (matte, gloss, shimmer, metallic).
"use strict";

(() => {
  const MAX_LAYERS = 4;
  const MASK_SCALE = 0.5;       // zones are blurred at half the frame's resolution
  const BLUR_TAPS = 8;          // at most, each side of the centre, per separable pass (a texel apart or more)
  // OpenCV's anti-aliased polygon fill (the server's masks) covers about 0.7 px beyond a polygon's edge; the live
  // fill (pixel centres in or out) grows each polygon as much so both renderers colour the same pixels.
  const AA_GROWTH = 0.7;
  const CORE_MIN_PIXELS = 20;   // as vision/makeup.py's _core: below this the half-covered part is used

  // ---- colour: OpenCV's float sRGB <-> CIELAB (D65), the conversion vision/color.py uses ----------------
  function srgbToLinear(c) { return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }
  function labF(t) { return t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116; }

  const LINEAR = Float64Array.from({ length: 256 }, (_, i) => srgbToLinear(i / 255));  // exact for 8-bit input

  function rgbToLab(r, g, b) {  // 0..255 each (whole numbers: the zone samples; shades are parsed from hex)
    const R = LINEAR[r], G = LINEAR[g], B = LINEAR[b];
    const x = (0.412453 * R + 0.357580 * G + 0.180423 * B) / 0.950456;
    const y = 0.212671 * R + 0.715160 * G + 0.072169 * B;
    const z = (0.019334 * R + 0.119193 * G + 0.950227 * B) / 1.088754;
    const fy = labF(y);
    const L = y > 0.008856 ? 116 * fy - 16 : 903.3 * y;
    return [L, 500 * (labF(x) - fy), 200 * (fy - labF(z))];
  }

  function hexToRgb(hex) {
    const value = parseInt(String(hex).replace("#", ""), 16);
    return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
  }

  // ---- geometry: the zones of vision/masks.py from landmarks in frame pixels ----------------------------
  function points(landmarks, ids) { return ids.map((id) => [landmarks[2 * id], landmarks[2 * id + 1]]); }
  function distance(a, b) { return Math.hypot(a[0] - b[0], a[1] - b[1]); }

  function resample(line, count) {  // count points evenly spaced by arc length
    const lengths = [0];
    for (let i = 1; i < line.length; i++) lengths.push(lengths[i - 1] + distance(line[i], line[i - 1]));
    const total = lengths[lengths.length - 1] || 1;
    const out = [];
    for (let k = 0; k < count; k++) {
      const at = (total * k) / Math.max(count - 1, 1);
      let i = 1;
      while (i < line.length - 1 && lengths[i] < at) i++;
      const span = lengths[i] - lengths[i - 1] || 1;
      const t = Math.min(Math.max((at - lengths[i - 1]) / span, 0), 1);
      out.push([line[i - 1][0] + t * (line[i][0] - line[i - 1][0]), line[i - 1][1] + t * (line[i][1] - line[i - 1][1])]);
    }
    return out;
  }

  // From the upper lash line toward the brow, `reach` of the way; an optional outer wing (masks.py _lid_band).
  function lidBand(face, side, band, zones) {
    const lid = face.region(`${side}_upper_lid`);
    const brow = resample(face.region(`${side}_brow_lower`), lid.length);
    const upper = lid.map((p, i) => {
      const taper = band.wing ? 1 + (zones.wing_taper - 1) * (i / Math.max(lid.length - 1, 1)) : 1;
      return [p[0] + band.reach * taper * (brow[i][0] - p[0]), p[1] + band.reach * taper * (brow[i][1] - p[1])];
    });
    const outline = [...lid, ...upper.reverse()];
    if (!band.wing) return outline;
    const outer = lid[0], inner = lid[lid.length - 1];
    const span = Math.max(distance(outer, inner), 1e-6), rise = Math.max(distance(brow[0], outer), 1e-6);
    const along = [(outer[0] - inner[0]) / span, (outer[1] - inner[1]) / span];
    const up = [(brow[0][0] - outer[0]) / rise, (brow[0][1] - outer[1]) / rise];
    const reach = band.wing * face.unit;
    const tip = [outer[0] + reach * along[0] + zones.wing_lift * reach * up[0],
                 outer[1] + reach * along[1] + zones.wing_lift * reach * up[1]];
    return [tip, ...outline];
  }

  // The blush ellipse on one cheekbone (masks.py _cheek): centre, semi-axes and angle in frame pixels.
  function cheek(face, side, config) {
    const shape = config.zones.cheek, anchors = config.anchors;
    const centre = face.point(anchors.cheek_centre[side]);
    const mouth = face.point(anchors.mouth_corners[side === "left" ? 0 : 1]);
    const eye = face.point(anchors.outer_eye_corner[side]);
    const direction = [eye[0] - mouth[0], eye[1] - mouth[1]];
    return { x: centre[0] + shape.lift * direction[0], y: centre[1] + shape.lift * direction[1],
             a: shape.long_axis * face.unit, b: shape.short_axis * face.unit,
             angle: Math.atan2(direction[1], direction[0]) };
  }

  function makeFace(landmarks, config) {
    const face = {
      point: (id) => [landmarks[2 * id], landmarks[2 * id + 1]],
      region: (name) => points(landmarks, config.regions[name]),
    };
    const corners = config.anchors.outer_eye_corner;
    face.unit = Math.max(distance(face.point(corners.left), face.point(corners.right)), 4);
    return face;
  }

  // ---- zone cores and their mean colour, measured on the CPU from the frame ------------------------------
  function inside(polygon, x, y) {
    let hit = false;
    for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
      const [xi, yi] = polygon[i], [xj, yj] = polygon[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  function edgeDistance(polygon, x, y) {
    let best = Infinity;
    for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
      const [ax, ay] = polygon[j], [bx, by] = polygon[i];
      const dx = bx - ax, dy = by - ay;
      const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy || 1)));
      const ex = x - ax - t * dx, ey = y - ay - t * dy;
      best = Math.min(best, ex * ex + ey * ey);
    }
    return Math.sqrt(best);
  }

  function ellipseLevel(e, x, y) {  // the feathered ellipse the shader draws, 0..1
    const c = Math.cos(e.angle), s = Math.sin(e.angle);
    const u = ((x - e.x) * c + (y - e.y) * s) / e.a, v = (-(x - e.x) * s + (y - e.y) * c) / e.b;
    const signed = (Math.hypot(u, v) - 1) * Math.sqrt(e.a * e.b);
    return 0.5 * erfc(signed / (e.sigma * Math.SQRT2));
  }

  function erfc(x) {  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    const value = y * Math.exp(-x * x);
    return x >= 0 ? value : 2 - value;
  }

  function percentile(sorted, share) {
    if (!sorted.length) return 0;
    const at = share * (sorted.length - 1), low = Math.floor(at), high = Math.ceil(at);
    return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
  }

  // Mean L*a*b* of a zone's core and the 75th/99th lightness percentiles (gloss follows the zone's own light).
  function zoneStats(pixels, width, height, box, covered) {
    const left = Math.max(0, Math.floor(box[0])), top = Math.max(0, Math.floor(box[1]));
    const right = Math.min(width, Math.ceil(box[2])), bottom = Math.min(height, Math.ceil(box[3]));
    const step = Math.max(1, Math.round(Math.sqrt(((right - left) * (bottom - top)) / 600)));  // <= ~600 samples: enough for a mean
    const cores = [[], []];  // fully covered, then half covered (the fallback for thin zones)
    for (let y = top; y < bottom; y += step) {
      for (let x = left; x < right; x += step) {
        const level = covered(x, y);
        if (level < 0.5) continue;
        const at = 4 * (y * width + x);
        const lab = rgbToLab(pixels[at], pixels[at + 1], pixels[at + 2]);
        cores[1].push(lab);
        if (level > 0.9) cores[0].push(lab);
      }
    }
    const core = cores[0].length >= CORE_MIN_PIXELS ? cores[0] : cores[1];
    if (!core.length) return null;
    const mean = [0, 1, 2].map((k) => core.reduce((sum, lab) => sum + lab[k], 0) / core.length);
    const lightness = core.map((lab) => lab[0]).sort((a, b) => a - b);
    return { mean, low: percentile(lightness, 0.75), high: percentile(lightness, 0.99) };
  }

  // Normalised Gaussian weights at whole-tap offsets -taps..taps (slot i + BLUR_TAPS), four sigmas (in taps)
  // interleaved.
  function gaussianTaps(sigmas, taps) {
    const weights = new Float32Array(4 * (2 * BLUR_TAPS + 1));
    sigmas.forEach((sigma, channel) => {
      let total = 0;
      for (let i = -taps; i <= taps; i++) total += Math.exp((-0.5 * i * i) / (sigma * sigma));
      for (let i = -taps; i <= taps; i++) {
        weights[4 * (i + BLUR_TAPS) + channel] = Math.exp((-0.5 * i * i) / (sigma * sigma)) / total;
      }
    });
    return weights;
  }

  function overlaps(a, b) { return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]; }

  // Windows [left, top, right, bottom], those that overlap replaced by their bounding box (an eye's eyeshadow and
  // eyeliner): a blur pass over each costs a fixed amount plus the rows its reach adds, so fewer, larger is faster.
  function joined(windows) {
    const out = windows.map((window_) => [...window_]);
    for (let i = 0; i < out.length; i++) {
      for (let j = i + 1; j < out.length; j++) {
        if (!overlaps(out[i], out[j])) continue;
        const [a, b] = [out[i], out.splice(j, 1)[0]];
        out[i] = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
        j = i;  // the larger box may now reach others
      }
    }
    return out;
  }

  // The polygon moved `by` pixels outward along its vertex normals (mitred, the mitre capped at 2x).
  function grown(polygon, by) {
    const n = polygon.length;
    let area = 0;
    for (let i = 0; i < n; i++) {
      const [x0, y0] = polygon[i], [x1, y1] = polygon[(i + 1) % n];
      area += x0 * y1 - x1 * y0;
    }
    const side = area >= 0 ? 1 : -1;
    const normal = (a, b) => {
      const dx = b[0] - a[0], dy = b[1] - a[1], length = Math.hypot(dx, dy) || 1;
      return [(side * dy) / length, (-side * dx) / length];
    };
    return polygon.map((point, i) => {
      const before = normal(polygon[(i + n - 1) % n], point), after = normal(point, polygon[(i + 1) % n]);
      const mx = before[0] + after[0], my = before[1] + after[1], length = Math.hypot(mx, my);
      if (length < 1e-6) return point;
      const cos = (mx * before[0] + my * before[1]) / length;  // the mitre grows as the corner sharpens
      const reach = by / Math.max(cos, 0.5);
      return [point[0] + (mx / length) * reach, point[1] + (my / length) * reach];
    });
  }

  function bounds(polygons, pad) {
    const xs = polygons.flat().map((p) => p[0]), ys = polygons.flat().map((p) => p[1]);
    return [Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) + pad, Math.max(...ys) + pad];
  }

  // ---- WebGL2 -------------------------------------------------------------------------------------------
  const FILL_VS = `#version 300 es
    in vec2 position; uniform vec2 size;
    void main() { gl_Position = vec4((position + 0.5) / size * 2.0 - 1.0, 0.0, 1.0); gl_Position.y = -gl_Position.y; }`;
  const FILL_FS = `#version 300 es
    precision mediump float; out vec4 colour;
    void main() { colour = vec4(1.0); }`;
  const QUAD_VS = `#version 300 es
    in vec2 position; out vec2 uv;
    void main() { uv = position * 0.5 + 0.5; gl_Position = vec4(position, 0.0, 1.0); }`;
  const COPY_FS = `#version 300 es
    precision mediump float; in vec2 uv; out vec4 colour; uniform sampler2D frame;
    void main() { colour = vec4(texture(frame, vec2(uv.x, 1.0 - uv.y)).rgb, 1.0); }`;
  // Separable Gaussian, one sigma per channel (lips, eyeshadow, eyeliner, the holes' guard), shared taps; the
  // normalised weights come from the CPU (an exp per tap and pixel is slow on software WebGL).
  const BLUR_FS = `#version 300 es
    precision highp float; in vec2 uv; out vec4 colour;
    uniform sampler2D source; uniform vec2 direction; uniform int taps; uniform vec4 weights[${2 * BLUR_TAPS + 1}];
    void main() {
      vec4 sum = vec4(0.0);
      for (int i = -taps; i <= taps; i++) sum += weights[i + ${BLUR_TAPS}] * texture(source, uv + direction * float(i));
      colour = sum;
    }`;
  // The colour pass, written for one set of layers: software WebGL (SwiftShader) runs every branch of a shader on
  // every pixel, so a general shader looping over layer kinds and finishes cost each pixel all of them. Each window
  // is drawn by a program holding only the layers that reach it, in stacking order (uniform slot = layer index).
  const COMPOSE_COMMON = `#version 300 es
    precision highp float; in vec2 uv; out vec4 colour;
    uniform sampler2D frame, soft, holes; uniform vec2 size;
    uniform vec3 shade[${MAX_LAYERS}]; uniform vec3 zoneMean[${MAX_LAYERS}]; uniform float weightScale[${MAX_LAYERS}];
    uniform vec2 recipe[${MAX_LAYERS}]; uniform vec3 light[${MAX_LAYERS}];  // finish mean, 75th and 99th pct of L*
    // Blush: each cheek's centre, its frame (rotation and half-axes folded in: the unit circle is the ellipse),
    // the erfc argument per unit of radius (the feather) and its box.
    uniform vec2 cheekCentre[2]; uniform mat2 cheekFrame[2]; uniform float cheekEdge[2]; uniform vec4 cheekBox[2];
    uniform sampler2D toLinearTable;  // sRGB byte -> linear light, exact for 8-bit input (no pow per pixel)
    uniform float split; uniform float beforeSide;

    vec3 toLinear(vec3 c) {
      ivec3 at = ivec3(c * 255.0 + 0.5);
      return vec3(texelFetch(toLinearTable, ivec2(at.r, 0), 0).r, texelFetch(toLinearTable, ivec2(at.g, 0), 0).r,
                  texelFetch(toLinearTable, ivec2(at.b, 0), 0).r);
    }
    vec3 toSrgb(vec3 c) { return mix(c * 12.92, 1.055 * pow(max(c, 0.0), vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c)); }
    float f(float t) { return t > 0.008856 ? pow(t, 1.0 / 3.0) : 7.787 * t + 16.0 / 116.0; }
    float fInverse(float t) { return t > 0.206893 ? t * t * t : (t - 16.0 / 116.0) / 7.787; }
    vec3 toLab(vec3 rgb) {
      vec3 c = toLinear(rgb);
      float x = dot(vec3(0.412453, 0.357580, 0.180423), c) / 0.950456;
      float y = dot(vec3(0.212671, 0.715160, 0.072169), c);
      float z = dot(vec3(0.019334, 0.119193, 0.950227), c) / 1.088754;
      float fy = f(y);
      return vec3(y > 0.008856 ? 116.0 * fy - 16.0 : 903.3 * y, 500.0 * (f(x) - fy), 200.0 * (fy - f(z)));
    }
    vec3 toRgb(vec3 lab) {
      float fy = (lab.x + 16.0) / 116.0;
      float y = lab.x <= 8.0 ? lab.x / 903.3 : fy * fy * fy;
      vec3 xyz = vec3(fInverse(fy + lab.y / 500.0) * 0.950456, y, fInverse(fy - lab.z / 200.0) * 1.088754);
      vec3 c = vec3(dot(vec3(3.240479, -1.53715, -0.498535), xyz), dot(vec3(-0.969256, 1.875991, 0.041556), xyz),
                    dot(vec3(0.055648, -0.204043, 1.057311), xyz));
      return clamp(toSrgb(clamp(c, 0.0, 1.0)), 0.0, 1.0);
    }
    float erfcApprox(float x) {
      float t = 1.0 / (1.0 + 0.3275911 * abs(x));
      float y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
      float value = y * exp(-x * x);
      return x >= 0.0 ? value : 2.0 - value;
    }
    bool within(vec2 p, vec4 box) { return all(greaterThanEqual(p, box.xy)) && all(lessThanEqual(p, box.zw)); }
    float ellipse(int side, vec2 p) {
      return 0.5 * erfcApprox((length(cheekFrame[side] * (p - cheekCentre[side])) - 1.0) * cheekEdge[side]);
    }
    float hash(vec2 p) { return fract(sin(dot(p, vec2(12.9898, 78.233))) * 43758.5453); }
    float highlight(float lightness, vec3 l) { return pow(clamp((lightness - l.y) / max(l.z - l.y, 1e-3), 0.0, 1.0), 1.5); }
  `;

  // Each layer's coverage (0..1) before its intensity: its zone, less the mouth opening or the eyes (grown a little,
  // as the server's guards are: never colour teeth or eyes); blush is the two cheeks' ellipses on the face.
  const LAYER_MASK = {
    lipstick: "zones.r * (1.0 - max(zones.a, cut.r))",
    eyeshadow: "zones.g * (1.0 - max(zones.a, cut.g))",
    eyeliner: "zones.b * (1.0 - max(zones.a, cut.g))",
    blush: "blush(pixel, oval)",
  };
  const FINISH_STEP = {
    satin: "",
    matte: "lab.x -= w * 0.5 * max(lab.x - light[I].x, 0.0);",
    gloss: `{ float shine = w * highlight(original, light[I]);
              lab.x += shine * (100.0 - lab.x) * 0.55;
              lab.yz *= 1.0 - 0.5 * shine; }`,
    shimmer: "lab.x = clamp(lab.x + w * (hash(floor(pixel)) < 0.012 ? 30.0 : 0.0), 0.0, 100.0);",
    metallic: `lab.x += w * 0.4 * (lab.x - light[I].x);
               lab.x += w * highlight(original, light[I]) * 12.0;
               lab.x = clamp(lab.x + w * (hash(floor(pixel)) < 0.004 ? 30.0 : 0.0), 0.0, 100.0);`,
  };

  /** The colour pass for `layers` ([{type, finish, slot}], in stacking order). */
  function composeSource(layers) {
    const types = new Set(layers.map((layer) => layer.type));
    const lines = [];
    lines.push(`vec4 zones = texture(soft, uv);`);
    lines.push(`vec4 cut = texture(holes, uv); float oval = cut.b;`);
    layers.forEach((layer, i) => lines.push(`float w${i} = ${LAYER_MASK[layer.type]} * weightScale[${layer.slot}];`));
    const strongest = layers.map((_, i) => `w${i}`).reduce((a, b) => `max(${a}, ${b})`);
    lines.push(`if (${strongest} <= 0.5 / 255.0) discard;  // most of a window: no colour maths`);
    lines.push(`vec3 lab = toLab(rgb); float original = lab.x; float w;`);
    layers.forEach((layer, i) => {
      const I = layer.slot;
      lines.push(`w = w${i};`);
      lines.push(`lab.x = clamp(lab.x + w * recipe[${I}].x * (shade[${I}].x - zoneMean[${I}].x), 0.0, 100.0);`);
      lines.push(`lab.yz = lab.yz * (1.0 - w * (1.0 - recipe[${I}].y))
                   + w * (shade[${I}].yz - recipe[${I}].y * zoneMean[${I}].yz);`);
      lines.push(FINISH_STEP[layer.finish].replaceAll("[I]", `[${I}]`));
    });
    const blush = types.has("blush") ? `
    float blush(vec2 pixel, float oval) {  // branches, not a select: outside the cheeks' boxes no ellipse is evaluated
      float level = 0.0;
      if (oval > 0.0 && within(pixel, cheekBox[0])) level = ellipse(0, pixel);
      if (oval > 0.0 && within(pixel, cheekBox[1])) level = max(level, ellipse(1, pixel));
      return level * oval;
    }` : "";
    return `${COMPOSE_COMMON}${blush}
    void main() {
      vec3 rgb = texture(frame, vec2(uv.x, 1.0 - uv.y)).rgb;
      vec2 pixel = vec2(uv.x * size.x, (1.0 - uv.y) * size.y) - 0.5;  // pixel centres at whole numbers
      if ((uv.x - split) * beforeSide > 0.0) discard;  // "before": the frame, copied first, stays
      ${lines.join("\n      ")}
      colour = vec4(toRgb(lab), 1.0);
    }`;
  }

  function compile(gl, vertex, fragment) {
    const program = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, vertex], [gl.FRAGMENT_SHADER, fragment]]) {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
      gl.attachShader(program, shader);
    }
    gl.bindAttribLocation(program, 0, "position");
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
    const uniforms = new Map();
    const at = (name) => {
      if (!uniforms.has(name)) uniforms.set(name, gl.getUniformLocation(program, name));
      return uniforms.get(name);
    };
    return { program, at };
  }

  function texture(gl, width, height) {
    const handle = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, handle);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    for (const [key, value] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR],
                                [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) {
      gl.texParameteri(gl.TEXTURE_2D, key, value);
    }
    const framebuffer = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, handle, 0);
    return { handle, framebuffer, width, height };
  }

  class LiveRenderer {
    /** True when this browser can run the renderer (WebGL2). */
    static supported() {
      try {
        return Boolean(document.createElement("canvas").getContext("webgl2"));
      } catch (error) {
        return false;
      }
    }

    /** `config`: the body of /api/v1/tryon/live. :throws Error: when WebGL2 is missing or a shader fails. */
    constructor(canvas, config) {
      this.canvas = canvas;
      this.config = config;
      // The picture shown: the frame copied whole, then the made-up windows shaded over it. One opaque canvas
      // (not a transparent layer over a frame canvas) halves what the compositor blends each frame.
      const gl = canvas.getContext("webgl2", { alpha: false, preserveDrawingBuffer: true, antialias: false });
      if (!gl) throw new Error("WebGL2 is not available");
      this.gl = gl;
      this.fill = compile(gl, FILL_VS, FILL_FS);
      this.blur = compile(gl, QUAD_VS, BLUR_FS);
      this.copy = compile(gl, QUAD_VS, COPY_FS);
      this.programs = new Map();  // colour passes by the layers they draw
      this.quad = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
      gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
      this.polygonBuffer = gl.createBuffer();
      this.frame = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, this.frame);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      this.size = [0, 0];
      this.linearTable = gl.createTexture();  // the CPU's LINEAR table, for the colour pass
      gl.bindTexture(gl.TEXTURE_2D, this.linearTable);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, 256, 1, 0, gl.RED, gl.FLOAT, Float32Array.from(LINEAR));
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    }

    /** The renderer's name: "SwiftShader" and the like mean software WebGL (no GPU). */
    rendererName() {
      const gl = this.gl, info = gl.getExtension("WEBGL_debug_renderer_info");
      return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    }

    resize(width, height) {
      if (this.size[0] === width && this.size[1] === height) return;
      this.size = [width, height];
      this.canvas.width = width;
      this.canvas.height = height;
      const w = Math.max(1, Math.round(width * MASK_SCALE)), h = Math.max(1, Math.round(height * MASK_SCALE));
      // Zones are filled and the holes (mouth opening, eyes) cut at full resolution; the feathered zones are
      // blurred at half resolution (the first pass reads the fill through linear filtering: 2x2 anti-aliasing).
      this.targets = { fill: texture(this.gl, width, height), holes: texture(this.gl, width, height),
                       soft: texture(this.gl, w, h), spare: texture(this.gl, w, h) };
    }

    /**
     * Draw `source` (a canvas holding the frame) with `layers` on the face whose `landmarks` (x, y pairs in frame
     * pixels, or null) it shows. `layers`: [{product_type, shade_hex, finish, intensity}]; `split` 0..1 and
     * `beforeSide` (-1: "before" left of the split, 1: right of it) place the before/after line; `pixels` is
     * the frame's RGBA (ImageData.data) for the zone means.
     */
    draw(source, landmarks, layers, { split = 0, beforeSide = -1, pixels = null } = {}) {
      const gl = this.gl;
      this.resize(source.width, source.height);
      gl.bindTexture(gl.TEXTURE_2D, this.frame);
      const [width, height] = this.size;
      if (pixels && pixels.length === 4 * width * height) {  // the frame's bytes already read: a plain copy
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE,
                      new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length));  // row 0 at v = 0: top
      } else {
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, source);
      }
      const active = landmarks ? this.prepare(landmarks, layers, pixels) : [];
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.viewport(0, 0, this.size[0], this.size[1]);
      gl.disable(gl.BLEND);
      [this.frame, this.targets.soft.handle, this.targets.holes.handle, this.linearTable].forEach((handle, unit) => {
        gl.activeTexture(gl.TEXTURE0 + unit);
        gl.bindTexture(gl.TEXTURE_2D, handle);
      });
      gl.useProgram(this.copy.program);
      gl.uniform1i(this.copy.at("frame"), 0);
      this.drawQuad();
      if (!active.length) return [];
      gl.enable(gl.SCISSOR_TEST);
      for (const { key, layers: reaching, windows } of this.windowGroups(active)) {
        const { program, at } = this.composeProgram(key, reaching);
        gl.useProgram(program);
        this.setComposeUniforms(at, active, { split, beforeSide });
        for (const window_ of windows) {  // only where a layer can reach: little else is shaded
          this.scissor(window_, 1, this.size[1], 0);
          this.drawQuad();
        }
      }
      gl.disable(gl.SCISSOR_TEST);
      return active.map((layer) => layer.type);
    }

    // The windows grouped by the layers that reach into them (each window: its own layer and those whose windows
    // overlap it), so each group is drawn by a program made for exactly those layers.
    windowGroups(active) {
      const slots = active.map((layer, slot) => ({ type: layer.type, finish: layer.finish, slot }));
      const groups = new Map();
      for (const layer of slots) {
        for (const window_ of this.layerWindows[layer.type]) {
          const reaching = slots.filter((other) => this.layerWindows[other.type].some((w) => overlaps(w, window_)));
          const key = reaching.map((other) => `${other.type}:${other.finish}:${other.slot}`).join("|");
          if (!groups.has(key)) groups.set(key, { key, layers: reaching, windows: [] });
          groups.get(key).windows.push(window_);
        }
      }
      return groups.values();
    }

    composeProgram(key, layers) {  // `key`: the layers' own, from windowGroups
      if (!this.programs.has(key)) this.programs.set(key, compile(this.gl, QUAD_VS, composeSource(layers)));
      return this.programs.get(key);
    }

    setComposeUniforms(at, active, { split, beforeSide }) {
      const gl = this.gl;
      ["frame", "soft", "holes", "toLinearTable"].forEach((name, unit) => gl.uniform1i(at(name), unit));
      gl.uniform2f(at("size"), this.size[0], this.size[1]);
      gl.uniform1f(at("split"), split);
      gl.uniform1f(at("beforeSide"), beforeSide);
      active.forEach((layer, i) => {
        gl.uniform3fv(at(`shade[${i}]`), layer.shade);
        gl.uniform3fv(at(`zoneMean[${i}]`), layer.stats.mean);
        gl.uniform1f(at(`weightScale[${i}]`), layer.scale);
        gl.uniform2f(at(`recipe[${i}]`), layer.recipe.lightness, layer.recipe.chroma_texture);
        gl.uniform3f(at(`light[${i}]`), layer.finishMean, layer.stats.low, layer.stats.high);
      });
      (this.cheeks || []).forEach((e, i) => {
        const c = Math.cos(e.angle), s = Math.sin(e.angle);
        gl.uniform2f(at(`cheekCentre[${i}]`), e.x, e.y);
        gl.uniformMatrix2fv(at(`cheekFrame[${i}]`), false, [c / e.a, -s / e.b, s / e.a, c / e.b]);  // column-major
        gl.uniform1f(at(`cheekEdge[${i}]`), Math.sqrt(e.a * e.b) / (e.sigma * Math.SQRT2));
        gl.uniform4fv(at(`cheekBox[${i}]`), e.window);
      });
    }

    // Masks for this face, then each layer's uniforms; layers the live renderer cannot draw are left out.
    prepare(landmarks, layers, pixels) {
      const config = this.config, face = makeFace(landmarks, config), zones = config.zones;
      const bands = { eyeshadow: ["left", "right"].map((side) => lidBand(face, side, zones.lid_bands.eyeshadow, zones)),
                      eyeliner: ["left", "right"].map((side) => lidBand(face, side, zones.lid_bands.eyeliner, zones)) };
      const lips = face.region("lips_outer"), opening = face.region("mouth_opening");
      const eyes = [face.region("left_eye"), face.region("right_eye")];
      const oval = face.region("face_oval");
      this.cheeks = ["left", "right"].map((side) => {
        const e = Object.assign(cheek(face, side, config), { sigma: zones.cheek.feather * face.unit });
        // The rotated ellipse's own bounding box, grown by three sigmas of its feather.
        const halfWidth = Math.hypot(e.a * Math.cos(e.angle), e.b * Math.sin(e.angle));
        const halfHeight = Math.hypot(e.a * Math.sin(e.angle), e.b * Math.cos(e.angle));
        const pad = 3 * e.sigma + 2;
        e.window = [e.x - halfWidth - pad, e.y - halfHeight - pad, e.x + halfWidth + pad, e.y + halfHeight + pad];
        return e;
      });
      const order = config.stacking;
      const usable = layers
        .filter((layer) => layer.intensity > 0 && layer.product_type in LAYER_MASK && layer.shade_hex)
        .sort((a, b) => order.indexOf(a.product_type) - order.indexOf(b.product_type)).slice(0, MAX_LAYERS);
      // Where each layer can reach, its feather included: the blur and the colour maths run there only.
      const reach = (feather) => 3 * feather * face.unit + 2;
      const windowsOf = {
        lipstick: () => [bounds([lips], reach(zones.lip_feather))],
        eyeshadow: () => bands.eyeshadow.map((band) => bounds([band], reach(zones.lid_bands.eyeshadow.feather))),
        eyeliner: () => bands.eyeliner.map((band) => bounds([band], reach(zones.lid_bands.eyeliner.feather))),
        blush: () => this.cheeks.map((e) => e.window),
      };
      this.layerWindows = Object.fromEntries(usable.map((layer) => [layer.product_type,
                                                                   windowsOf[layer.product_type]()]));
      this.windows = Object.values(this.layerWindows).flat();
      // Blush is an analytic ellipse: only the polygon zones need the blur.
      this.blurWindows = joined(usable.filter((layer) => layer.product_type !== "blush")
        .flatMap((layer) => this.layerWindows[layer.product_type]));
      this.faceBox = this.windows.length ? [Math.min(...this.windows.map((w) => w[0])), Math.min(...this.windows.map((w) => w[1])),
                                            Math.max(...this.windows.map((w) => w[2])), Math.max(...this.windows.map((w) => w[3]))]
        : [0, 0, 0, 0];
      if (!this.windows.length) return [];
      this.drawMasks(face, { lips, opening, eyes, oval, bands });
      const [width, height] = this.size;
      const active = [];
      for (const layer of usable) {
        const type = layer.product_type;
        let covered, box;
        if (type === "lipstick") {
          const margin = 1.28 * zones.lip_feather * face.unit;  // the core: where the feathered mask is ~full
          covered = (x, y) => (!inside(lips, x, y) || inside(opening, x, y) ? 0
            : edgeDistance(lips, x, y) > margin && edgeDistance(opening, x, y) > margin ? 1 : 0.6);
          box = bounds([lips], 1);
        } else if (type === "blush") {
          const [left, right] = this.cheeks;
          const peak = Math.max(ellipseLevel(left, left.x, left.y), ellipseLevel(right, right.x, right.y));
          covered = (x, y) => {  // the face oval (a polygon) is tested only where the ellipses are strong
            const value = Math.max(ellipseLevel(left, x, y), ellipseLevel(right, x, y)) / peak;
            return value <= 0.5 || !inside(oval, x, y) ? 0 : value > 0.9 ? 1 : 0.6;
          };
          box = bounds(this.cheeks.map((e) => [[e.x - e.a, e.y - e.a], [e.x + e.a, e.y + e.a]]), 0);
        } else {
          const polygons = bands[type], margin = 1.28 * zones.lid_bands[type].feather * face.unit;
          covered = (x, y) => {
            const polygon = polygons.find((p) => inside(p, x, y));
            if (!polygon || eyes.some((eye) => inside(eye, x, y))) return 0;
            return edgeDistance(polygon, x, y) > margin ? 1 : 0.6;
          };
          box = bounds(polygons, 1);
        }
        const stats = pixels ? zoneStats(pixels, width, height, box, covered) : null;
        if (!stats) continue;
        const recipe = config.recipes[type];
        const shade = rgbToLab(...hexToRgb(layer.shade_hex));
        const scale = layer.intensity * recipe.coverage;
        const finishMean = Math.min(100, Math.max(0, stats.mean[0] + scale * recipe.lightness * (shade[0] - stats.mean[0])));
        const finish = layer.finish in FINISH_STEP ? layer.finish : "satin";
        active.push({ type, finish, shade, stats, scale, recipe, finishMean });
      }
      return active;
    }

    drawMasks(face, shapes) {
      const gl = this.gl, { fill, soft, holes, spare } = this.targets;
      const { program, at } = this.fill;
      gl.useProgram(program);
      gl.uniform2f(at("size"), this.size[0], this.size[1]);
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.ONE_MINUS_DST_COLOR, gl.ZERO);  // each covering triangle inverts: even-odd polygon fill
      gl.bindBuffer(gl.ARRAY_BUFFER, this.polygonBuffer);
      gl.enableVertexAttribArray(0);
      gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
      const fillInto = (target, channels, polygons, growth = AA_GROWTH) => {
        gl.bindFramebuffer(gl.FRAMEBUFFER, target.framebuffer);
        gl.viewport(0, 0, target.width, target.height);
        gl.colorMask(...channels);
        for (const polygon of polygons) {
          gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(grown(polygon, growth).flat()), gl.STREAM_DRAW);
          gl.drawArrays(gl.TRIANGLE_FAN, 0, polygon.length);
        }
      };
      const zones = this.config.zones;
      // The 4th channel is the holes' soft guard (mouth opening and eyes, grown): one feather for both, the
      // mouth's (the eyes' is a sixth smaller: a fifth of a pixel on a face 180 px across).
      const guards = zones.guards;
      const feathers = [zones.lip_feather, zones.lid_bands.eyeshadow.feather, zones.lid_bands.eyeliner.feather,
                        guards.mouth.feather];
      const sigma = feathers.map((share) => Math.max(share * face.unit * MASK_SCALE, 0.25));
      // Taps a texel apart out to three sigmas of the widest feather (the narrow ones stay well sampled), further
      // apart on faces so big that would take more than BLUR_TAPS.
      const spacing = Math.max(1, (Math.max(...sigma) * 3) / BLUR_TAPS);
      const taps = Math.min(BLUR_TAPS, Math.ceil((Math.max(...sigma) * 3) / spacing));
      const radius = Math.ceil(taps * spacing) + 1;  // in blurred (half resolution) pixels
      // The masks are read only inside the layers' windows and the blur's reach around them: fill only there.
      const margin = radius / MASK_SCALE + 2;
      const [left, top, right, bottom] = this.faceBox;
      gl.enable(gl.SCISSOR_TEST);
      this.scissor([left - margin, top - margin, right + margin, bottom + margin], 1, this.size[1], 0);
      for (const target of [fill, holes]) {
        gl.bindFramebuffer(gl.FRAMEBUFFER, target.framebuffer);
        gl.colorMask(true, true, true, true);
        gl.clearColor(0, 0, 0, 0);
        gl.clear(gl.COLOR_BUFFER_BIT);
      }
      fillInto(fill, [true, false, false, false], [shapes.lips]);
      fillInto(fill, [false, true, false, false], shapes.bands.eyeshadow);
      fillInto(fill, [false, false, true, false], shapes.bands.eyeliner);
      fillInto(holes, [true, false, false, false], [shapes.opening]);
      fillInto(holes, [false, true, false, false], shapes.eyes);
      fillInto(holes, [false, false, true, false], [shapes.oval]);  // blush stays on the face (hard edge, full res)
      // As the server's guards: each hole grown by whole pixels (then feathered by the blur).
      const growth = (guard) => AA_GROWTH + Math.max(Math.round(guard.grow * face.unit), 1);
      fillInto(fill, [false, false, false, true], [shapes.opening], growth(guards.mouth));
      fillInto(fill, [false, false, false, true], shapes.eyes, growth(guards.eyes));
      gl.disable(gl.SCISSOR_TEST);
      gl.colorMask(true, true, true, true);
      gl.disable(gl.BLEND);
      // Blur only where the layers reach: the first pass also covers the rows the second one reads.
      gl.enable(gl.SCISSOR_TEST);
      const kernel = { sigma, spacing, taps };
      this.blurPass(fill, spare, [1 / soft.width, 0], kernel, radius);
      this.blurPass(spare, soft, [0, 1 / soft.height], kernel, 0);
      gl.disable(gl.SCISSOR_TEST);
    }

    // Scissor to a window [left, top, right, bottom] given in frame pixels, for a target `scale` times the
    // frame's size and `height` pixels high (GL counts rows from the bottom), grown by `grow` rows.
    scissor(window_, scale, height, grow) {
      const [left, top, right, bottom] = window_.map((value) => value * scale);
      const x = Math.max(0, Math.floor(left)), y0 = Math.max(0, Math.floor(top) - grow);
      const y1 = Math.min(height, Math.ceil(bottom) + grow);
      const width = Math.max(0, Math.min(Math.round(this.size[0] * scale), Math.ceil(right)) - x);
      this.gl.scissor(x, height - y1, width, Math.max(0, y1 - y0));
    }

    // One pass of the separable blur over each blur window (grown by `grow` rows), into `to`.
    blurPass(from, to, direction, { sigma, spacing, taps }, grow) {
      const gl = this.gl, { program, at } = this.blur;
      gl.useProgram(program);
      gl.bindFramebuffer(gl.FRAMEBUFFER, to.framebuffer);
      gl.viewport(0, 0, to.width, to.height);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, from.handle);
      gl.uniform1i(at("source"), 0);
      gl.uniform2f(at("direction"), direction[0] * spacing, direction[1] * spacing);
      gl.uniform1i(at("taps"), taps);
      gl.uniform4fv(at("weights"), gaussianTaps(sigma.map((s) => s / spacing), taps));
      for (const window_ of this.blurWindows) {
        this.scissor(window_, MASK_SCALE, to.height, grow);
        this.drawQuad();
      }
    }

    drawQuad() {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
      gl.enableVertexAttribArray(0);
      gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }
  }

  window.shoplensLiveRender = { LiveRenderer };
})();
