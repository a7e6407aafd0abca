// The throughput chart as a plain SVG string: per operation, a cluster per input size, a bar per
// tool; MB/s above (log scale), peak RSS below (log scale, with the 64 MiB line).

const W = 900;
const H = 560;
const LEFT = 64;
const RIGHT = 16;
const COLORS = { rolldelta: '#1f6feb', rdiff: '#e36209', 'zstd -3': '#2da44e', 'xdelta3 -9': '#8250df', 'docker load': '#6e7781' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const sizeLabel = (mib) => (mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`);

/** A log-scale bar panel; `value(r)` picks the number of a result. */
function panel(out, results, { top, height, ticks, unit, value, capLine }) {
  const lo = Math.log10(ticks[0]);
  const hi = Math.log10(ticks[ticks.length - 1]);
  const y = (v) => top + height - ((Math.log10(Math.max(v, ticks[0])) - lo) / (hi - lo)) * height;
  for (const t of ticks) {
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#d0d7de" stroke-width="1"/>`);
    out.push(`<text x="${LEFT - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#57606a">${t}</text>`);
  }
  out.push(`<text x="14" y="${top + height / 2}" font-size="12" fill="#24292f" transform="rotate(-90 14 ${top + height / 2})" text-anchor="middle">${esc(unit)}</text>`);
  if (capLine) {
    const cy = y(capLine.value).toFixed(1);
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${cy}" y2="${cy}" stroke="#cf222e" stroke-width="1.2" stroke-dasharray="5 3"/>`);
    out.push(`<text x="${W - RIGHT - 4}" y="${Number(cy) - 4}" text-anchor="end" font-size="10" fill="#cf222e">${esc(capLine.label)}</text>`);
  }
  const ops = Object.keys(results.sizes[0].ops);
  const groupW = (W - LEFT - RIGHT) / ops.length;
  ops.forEach((name, g) => {
    const gx = LEFT + g * groupW;
    const clusterW = (groupW - 10) / results.sizes.length;
    results.sizes.forEach((size, c) => {
      const o = size.ops[name];
      const bars = [['rolldelta', o.rolldelta], ...Object.entries(o.peers)];
      const barW = Math.min(12, (clusterW - 4) / bars.length);
      const cx = gx + 5 + c * clusterW + (clusterW - barW * bars.length) / 2;
      bars.forEach(([tool, r], b) => {
        const v = r?.ok ? value(r) : null;
        if (v == null) return;
        const by = y(v);
        out.push(
          `<rect x="${(cx + b * barW).toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(top + height - by).toFixed(1)}" fill="${COLORS[tool] ?? '#999'}"><title>${esc(`${name}, ${sizeLabel(size.mib)}, ${tool}: ${v.toFixed(1)} ${unit}`)}</title></rect>`,
        );
      });
      out.push(`<text x="${(gx + 5 + (c + 0.5) * clusterW).toFixed(1)}" y="${top + height + 12}" text-anchor="middle" font-size="9" fill="#57606a">${size.mib >= 1024 ? `${size.mib / 1024}G` : size.mib}</text>`);
    });
    if (g > 0) out.push(`<line x1="${gx.toFixed(1)}" x2="${gx.toFixed(1)}" y1="${top}" y2="${top + height + 14}" stroke="#eaeef2"/>`);
  });
  return { ops, groupW };
}

/**
 * Draws the chart of a throughput results object (bench/results/throughput.json's shape).
 * @example
 * writeFileSync('throughput.svg', throughputSvg(results));
 */
export function throughputSvg(results) {
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${LEFT}" y="22" font-size="15" font-weight="bold" fill="#24292f">rolldelta throughput beside peers, same run (higher is faster)</text>`);
  out.push(`<text x="${LEFT}" y="40" font-size="11" fill="#57606a">${esc(`${results.date.slice(0, 10)} · ${results.machine} · sizes ${results.sizes.map((s) => sizeLabel(s.mib)).join(', ')} (one cluster each)`)}</text>`);
  const { ops, groupW } = panel(out, results, { top: 70, height: 270, ticks: [10, 30, 100, 300, 1000, 3000], unit: 'MB/s (log)', value: (r) => r.mbps });
  ops.forEach((name, g) => {
    out.push(`<text x="${(LEFT + (g + 0.5) * groupW).toFixed(1)}" y="372" text-anchor="middle" font-size="12" fill="#24292f">${esc(name)}</text>`);
  });
  panel(out, results, { top: 400, height: 120, ticks: [1, 4, 16, 64, 256, 1024, 4096], unit: 'peak RSS MiB', value: (r) => r.rssMiB, capLine: { value: 64, label: '64 MiB: patch / apply cap' } });
  // Legend.
  const tools = Object.keys(COLORS).filter((t) => results.sizes.some((s) => Object.values(s.ops).some((o) => (t === 'rolldelta' ? o.rolldelta : o.peers[t]))));
  tools.forEach((t, i) => {
    const x = LEFT + i * 130;
    out.push(`<rect x="${x}" y="${H - 18}" width="12" height="12" fill="${COLORS[t]}"/>`);
    out.push(`<text x="${x + 17}" y="${H - 8}" font-size="12" fill="#24292f">${esc(t)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
