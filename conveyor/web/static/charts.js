// Charts drawn by the page as SVG (no library, no CDN): stacked bars of succeeded / failed
// attempts per time step, with the p95 duration as a line when asked.
import { h } from "./app.js";

const SVG = "svg:";

function timeLabel(t, step) {
  const d = new Date(t * 1000);
  if (step >= 3600) return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return "—";
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * series: [{t, succeeded, failed, p95}] evenly spaced by `step` seconds.
 * A bar per point (failed stacked on succeeded), axis labels for the peak and the time range,
 * a <title> per bar for hover. With {p95: true} the p95 duration is drawn as a line on its own scale.
 */
export function barChart(series, { width = 640, height = 160, step = 60, p95 = false, compact = false, label = "" } = {}) {
  const left = compact ? 2 : 34;
  const right = p95 && !compact ? 48 : 4;
  const top = 6;
  const bottom = compact ? 2 : 18;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(1, ...series.map((p) => p.succeeded + p.failed));
  const n = Math.max(1, series.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot - (slot > 4 ? 1 : 0));
  const y = (v) => top + plotH - (v / max) * plotH;
  const svg = h(`${SVG}svg`, { class: ["chart", compact && "chart-compact"], width, height,
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  svg.append(h(`${SVG}title`, {}, label));
  svg.append(h(`${SVG}line`, { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  if (!compact) {
    svg.append(h(`${SVG}line`, { class: "grid", x1: left, x2: width - right, y1: top, y2: top }));
    svg.append(h(`${SVG}text`, { class: "tick", x: left - 4, y: top + 4, "text-anchor": "end" }, String(max)));
    svg.append(h(`${SVG}text`, { class: "tick", x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"));
    if (series.length) {
      svg.append(h(`${SVG}text`, { class: "tick", x: left, y: height - 4 }, timeLabel(series[0].t, step)));
      svg.append(h(`${SVG}text`, { class: "tick", x: width - right, y: height - 4, "text-anchor": "end" }, "now"));
    }
  }
  series.forEach((p, i) => {
    const x = left + i * slot;
    const total = p.succeeded + p.failed;
    const g = h(`${SVG}g`, { class: "bar" });
    const when = new Date(p.t * 1000).toLocaleString();
    g.append(h(`${SVG}title`, {}, `${when}: ${p.succeeded} succeeded, ${p.failed} failed` +
      (p.p95 !== null && p.p95 !== undefined ? `, p95 ${fmtSeconds(p.p95)}` : "")));
    // An invisible full-height target so that hovering anywhere in the slot shows the figures.
    g.append(h(`${SVG}rect`, { class: "hit", x: x.toFixed(2), y: top, width: slot.toFixed(2), height: plotH }));
    if (p.succeeded) {
      g.append(h(`${SVG}rect`, { class: "ok", x: x.toFixed(2), y: y(p.succeeded).toFixed(2), width: barW.toFixed(2),
        height: (top + plotH - y(p.succeeded)).toFixed(2) }));
    }
    if (p.failed) {
      g.append(h(`${SVG}rect`, { class: "bad", x: x.toFixed(2), y: y(total).toFixed(2), width: barW.toFixed(2),
        height: (y(p.succeeded) - y(total)).toFixed(2) }));
    }
    svg.append(g);
  });
  if (p95) {
    const values = series.map((p) => p.p95).filter((v) => v !== null && v !== undefined);
    const top95 = Math.max(0.001, ...values);
    const py = (v) => top + plotH - (v / top95) * plotH;
    const pts = series.map((p, i) => (p.p95 === null || p.p95 === undefined ? null
      : `${(left + i * slot + slot / 2).toFixed(1)},${py(p.p95).toFixed(1)}`)).filter(Boolean);
    if (pts.length > 1) svg.append(h(`${SVG}polyline`, { class: "p95", points: pts.join(" ") }));
    if (pts.length === 1) {
      const [cx, cy] = pts[0].split(",");
      svg.append(h(`${SVG}circle`, { class: "p95-dot", cx, cy, r: 2.5 }));
    }
    if (!compact && values.length) {
      svg.append(h(`${SVG}text`, { class: "tick p95-tick", x: width - right + 4, y: top + 4 }, fmtSeconds(top95)));
      svg.append(h(`${SVG}text`, { class: "tick p95-tick", x: width - right + 4, y: top + plotH }, "p95"));
    }
  }
  return svg;
}
