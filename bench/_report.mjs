// Tables and acceptance checks of the throughput bench, from the results of every size.

const RSS_CAP_MIB = 64; // patch and image apply, whatever the size
const n1 = (x) => (x == null ? '-' : x.toFixed(x >= 100 ? 0 : 1));

/** Ratio of speeds: > 1 means rolldelta is faster than the peer. */
export const speedRatio = (rd, peer) => (rd?.ok && peer?.ok ? peer.secs / rd.secs : null);

/** The table of one size, as lines. */
export function sizeTable(size) {
  const lines = [];
  const head = `${'operation'.padEnd(21)} ${'tool'.padEnd(12)} ${'secs'.padStart(7)} ${'MB/s'.padStart(7)} ${'RSS MiB'.padStart(8)} ${'output bytes'.padStart(14)}  x peer speed`;
  lines.push(head, '-'.repeat(head.length));
  for (const [name, o] of Object.entries(size.ops)) {
    const rows = [['rolldelta', o.rolldelta], ...Object.entries(o.peers)];
    rows.forEach(([tool, r], i) => {
      const ratio = i === 0 ? '' : speedRatio(o.rolldelta, r)?.toFixed(2) ?? '-';
      const out = r.outBytes == null ? '-' : r.outBytes.toLocaleString('en-US');
      const cells = r.ok
        ? `${r.secs.toFixed(2).padStart(7)} ${n1(r.mbps).padStart(7)} ${n1(r.rssMiB).padStart(8)} ${out.padStart(14)}  ${ratio}`
        : `  FAILED: ${r.error?.split('\n').pop()}`;
      lines.push(`${(i === 0 ? name : '').padEnd(21)} ${tool.padEnd(12)} ${cells}`);
    });
  }
  return lines;
}

/**
 * Linearity of each rolldelta operation: time per byte at 1024 MiB over time per byte at 256 MiB,
 * after taking off `startupSecs` (the CLI's start, `rolldelta --version`: Node and the command
 * dispatcher, paid once per run whatever the size; without it every operation looks better than
 * linear). Each command loads its own code after that, which stays in its figures.
 */
export function linearity(sizes, startupSecs = 0) {
  const big = sizes.find((s) => s.mib === 1024);
  const mid = sizes.find((s) => s.mib === 256);
  if (!big || !mid) return {};
  const out = {};
  for (const [name, o] of Object.entries(big.ops)) {
    const a = o.rolldelta;
    const b = mid.ops[name]?.rolldelta;
    // Normalise by bytes: the two sizes' inputs are not exactly 4x apart (edits, archive headers).
    if (a?.ok && b?.ok) out[name] = (a.secs - startupSecs) / o.bytes / ((b.secs - startupSecs) / mid.ops[name].bytes);
  }
  return out;
}

/**
 * The acceptance lines: { name, pass (true/false, or null when it could not be measured), detail }.
 */
export function checks(sizes, startupSecs = 0) {
  const out = [];
  const add = (name, pass, detail) => out.push({ name, pass, detail });
  for (const s of sizes) {
    const at = `${s.mib} MiB`;
    const o = s.ops;
    for (const name of ['signature', 'delta']) {
      const r = speedRatio(o[name].rolldelta, o[name].peers.rdiff);
      add(`${at}: ${name} at least as fast as rdiff (BLAKE2)`, r == null ? null : r >= 1, r == null ? 'rdiff not measured' : `${r.toFixed(2)}x rdiff's speed`);
    }
    for (const name of ['patch', 'patch (rsync delta)']) {
      const r = o[name].rolldelta;
      add(`${at}: ${name} at least 400 MB/s from a file basis`, r?.ok ? r.mbps >= 400 : false, r?.ok ? `${r.mbps.toFixed(0)} MB/s` : 'failed');
    }
    const z = o.diff.peers['zstd -3'];
    const d = o.diff.rolldelta;
    add(`${at}: diff within 2x of zstd --patch-from -3`, z?.ok && d?.ok ? d.secs <= 2 * z.secs : null, z?.ok && d?.ok ? `${(d.secs / z.secs).toFixed(2)}x zstd's time` : 'not measured');
    const ap = o['image apply'].rolldelta;
    const dl = o['image apply'].peers['docker load'];
    add(`${at}: image apply within 1.5x of docker load`, ap?.ok && dl?.ok ? ap.secs <= 1.5 * dl.secs : null, ap?.ok && dl?.ok ? `${(ap.secs / dl.secs).toFixed(2)}x docker load's time` : 'docker load not measured');
    for (const name of ['patch', 'patch (rsync delta)', 'image apply']) {
      const r = o[name].rolldelta;
      add(`${at}: ${name} peak RSS under ${RSS_CAP_MIB} MiB`, r?.ok && r.rssMiB != null ? r.rssMiB < RSS_CAP_MIB : null, r?.rssMiB != null ? `${r.rssMiB.toFixed(1)} MiB` : 'not measured');
    }
    // README "Bounded memory": the basis plus an index of at most half its size, ~2 MiB of target
    // window, on top of Node's own ~45 MiB and the worker threads' (docs/LIMITS.md).
    const cap = (2 * o.diff.bytes) / 2 ** 20 + 64;
    add(`${at}: diff peak RSS within the documented 2 x basis + 64 MiB`, d?.ok && d.rssMiB != null ? d.rssMiB <= cap : null, d?.rssMiB != null ? `${d.rssMiB.toFixed(0)} of ${cap.toFixed(0)} MiB` : 'not measured');
  }
  for (const [name, k] of Object.entries(linearity(sizes, startupSecs))) {
    add(`linear growth: ${name} at 1 GiB within 10% of 4x 256 MiB`, Math.abs(k - 1) <= 0.1, `${k.toFixed(2)}x`);
  }
  return out;
}
