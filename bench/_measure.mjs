// One size of the throughput bench: every rolldelta operation and its peers on the file pair and
// on the image pair. Each result is { ok, secs, rssMiB, outBytes, mbps }, MB/s over `bytes`
// (the basis for signature, the target or new archive otherwise).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { have } from './_peers.mjs';
import { REPEATS, rolldelta, sha256File, timed, xdeltaWindow, zstdWindowLog } from './_ops.mjs';

const MiB = 1 << 20;

function op(bytes) {
  return { bytes, rolldelta: undefined, peers: {} };
}

function withRate(r, bytes) {
  return { ...r, mbps: r.ok ? bytes / 1e6 / r.secs : null };
}

/** Checks that `out` is byte-identical to the target; marks the result failed if not. */
async function verified(r, out, want) {
  if (r.ok && (await sha256File(out)) !== want) return { ...r, ok: false, error: `${out} is not the target` };
  return r;
}

/** Signature, delta, diff and patch of rolldelta beside rdiff, zstd and xdelta3. */
export async function measureFiles(pair, dir) {
  const B = pair.basis;
  const T = pair.target;
  const p = (name) => join(dir, name);
  const want = await sha256File(T); // also brings both inputs into the page cache
  await sha256File(B);
  const ops = {
    signature: op(pair.basisBytes),
    delta: op(pair.targetBytes),
    diff: op(pair.targetBytes),
    patch: op(pair.targetBytes),
    'patch (rsync delta)': op(pair.targetBytes),
  };
  const set = (name, tool, r) => {
    const o = ops[name];
    const v = withRate(r, o.bytes);
    if (tool === 'rolldelta') o.rolldelta = v;
    else o.peers[tool] = v;
  };

  set('signature', 'rolldelta', rolldelta(['signature', '--workers', 'auto', B, p('rd.sig')], p('rd.sig')));
  set('delta', 'rolldelta', rolldelta(['delta', p('rd.sig'), T, p('rd.rsync')], p('rd.rsync')));
  set('diff', 'rolldelta', rolldelta(['diff', '--workers', 'auto', B, T, p('rd.diff')], p('rd.diff')));
  set('patch', 'rolldelta', await verified(rolldelta(['patch', B, p('rd.diff'), p('rd.out')], p('rd.out')), p('rd.out'), want));
  set('patch (rsync delta)', 'rolldelta', await verified(rolldelta(['patch', B, p('rd.rsync'), p('rd.out')], p('rd.out')), p('rd.out'), want));

  if (have('rdiff')) {
    set('signature', 'rdiff', timed('rdiff', ['-f', 'signature', B, p('r.sig')], p('r.sig')));
    set('delta', 'rdiff', timed('rdiff', ['-f', 'delta', p('r.sig'), T, p('r.delta')], p('r.delta')));
    set('patch (rsync delta)', 'rdiff', await verified(timed('rdiff', ['-f', 'patch', B, p('r.delta'), p('r.out')], p('r.out')), p('r.out'), want));
  }
  if (have('zstd')) {
    const w = zstdWindowLog(pair.basisBytes + pair.targetBytes);
    const mem = `--memory=${2 ** w / MiB}MB`;
    set('diff', 'zstd -3', timed('zstd', ['-q', '-f', '-3', `--long=${w}`, `--patch-from=${B}`, T, '-o', p('z.zst')], p('z.zst')));
    set('patch', 'zstd -3', await verified(timed('zstd', ['-q', '-f', '-d', `--long=${w}`, mem, `--patch-from=${B}`, p('z.zst'), '-o', p('z.out')], p('z.out')), p('z.out'), want));
  }
  if (have('xdelta3')) {
    const bw = String(xdeltaWindow(pair.basisBytes));
    set('diff', 'xdelta3 -9', timed('xdelta3', ['-e', '-9', '-f', '-B', bw, '-s', B, T, p('x.vcdiff')], p('x.vcdiff')));
    set('patch', 'xdelta3 -9', await verified(timed('xdelta3', ['-d', '-f', '-B', bw, '-s', B, p('x.vcdiff'), p('x.out')], p('x.out')), p('x.out'), want));
  }
  for (const f of ['rd.out', 'r.out', 'z.out', 'x.out']) rmSync(p(f), { force: true });
  return ops;
}

/**
 * `image diff` and `image apply` of rolldelta; zstd --patch-from on the archives beside them, and
 * `docker load` of the whole new archive into a private engine beside apply (when one runs).
 */
export async function measureImage(img, dir, engine) {
  const p = (name) => join(dir, name);
  await sha256File(img.old);
  await sha256File(img.new);
  const ops = { 'image diff': op(img.newBytes), 'image apply': op(img.newBytes) };
  const set = (name, tool, r) => {
    const o = ops[name];
    const v = withRate(r, o.bytes);
    if (tool === 'rolldelta') o.rolldelta = v;
    else o.peers[tool] = v;
  };
  set('image diff', 'rolldelta', rolldelta(['image', 'diff', '--workers', 'auto', '--no-pull-size', img.old, img.new, p('rd.rdimg')], p('rd.rdimg')));
  set('image apply', 'rolldelta', rolldelta(['image', 'apply', img.old, p('rd.rdimg'), p('rd.tar')], p('rd.tar')));
  rmSync(p('rd.tar'), { force: true });
  if (have('zstd')) {
    const w = zstdWindowLog(img.oldBytes + img.newBytes);
    const mem = `--memory=${2 ** w / MiB}MB`;
    set('image diff', 'zstd -3', timed('zstd', ['-q', '-f', '-3', `--long=${w}`, `--patch-from=${img.old}`, img.new, '-o', p('z.zst')], p('z.zst')));
    set('image apply', 'zstd -3', timed('zstd', ['-q', '-f', '-d', `--long=${w}`, mem, `--patch-from=${img.old}`, p('z.zst'), '-o', p('z.tar')], p('z.tar')));
    rmSync(p('z.tar'), { force: true });
  }
  if (engine) {
    const host = ['-H', `unix://${engine.socketPath}`];
    // Best of REPEATS, the new image removed after each run: a second load of the same layers is a no-op.
    const bestWithoutNew = (once) => {
      let best;
      for (let i = 0; i < REPEATS; i++) {
        const t = once();
        timed('docker', [...host, 'rmi', '-f', 'bench:new'], undefined, 1);
        if (!best || !t.ok || (best.ok && t.secs < best.secs)) best = t;
        if (!t.ok) break;
      }
      return best;
    };
    const r = bestWithoutNew(() => timed('docker', [...host, 'load', '-q', '-i', img.new], undefined, 1));
    // The client's RSS says nothing of the engine's work: leave it out.
    set('image apply', 'docker load', { ...r, rssMiB: null });
    // The device's side: the old image in the engine, `rolldelta docker apply` saves it, rebuilds
    // the new one from the delta and loads it (old layers left out), beside that full load.
    ops['image update (docker apply)'] = op(img.newBytes);
    const env = { ...process.env, DOCKER_HOST: `unix://${engine.socketPath}` };
    timed('docker', [...host, 'load', '-q', '-i', img.old], undefined, 1);
    const u = bestWithoutNew(() => rolldelta(['docker', 'apply', '--tag', 'bench:new', 'bench:old', p('rd.rdimg')], undefined, 1, env));
    timed('docker', [...host, 'rmi', '-f', 'bench:old'], undefined, 1);
    // The engine wrote gigabytes into its storage: flush them now, not during the next size's runs.
    timed('sync', [], undefined, 1);
    set('image update (docker apply)', 'rolldelta', u);
    set('image update (docker apply)', 'docker load', { ...r, rssMiB: null });
  }
  return ops;
}
