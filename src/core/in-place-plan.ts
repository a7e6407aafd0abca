/**
 * Ordering of a delta's copies for in-place patching: the target is written over the basis in the
 * same file, so a copy must run before any op overwrites the basis bytes it reads. This is the
 * CRWI graph of Burns and Long: an edge u → v when v's target range overlaps u's source range.
 * A topological order runs every copy on intact bytes; a cycle (two regions swapped) has none,
 * and is broken by taking a piece of it out of the order: its bytes are saved before anything is
 * written (on the device) or sent as a literal (by the diff).
 */

/** The copies (and adds, whose basis bytes are read the same way) of a delta, in op order. */
export interface InPlaceCopies {
  /** Where each copy writes in the target. */
  readonly targetOffset: Float64Array;
  /** Where each copy reads in the basis. */
  readonly sourceOffset: Float64Array;
  readonly length: Float64Array;
  readonly count: number;
}

/**
 * The plan, over pieces: copies are cut where their sources cross the boundaries of other
 * targets, so a cycle is broken by a piece that closes it, not a whole copy (on a tar whose files
 * were shuffled, whole copies cost 17x the delta in literals; fixpoint pieces 0.8x, 24 KB).
 */
export interface InPlacePlan {
  /** The pieces: where each writes and reads, its length, and which copy it belongs to. */
  readonly pieces: InPlaceCopies;
  readonly copyOf: Int32Array;
  /** Indices of the pieces to run, in a safe order. */
  readonly order: Int32Array;
  /** Indices of the pieces that break cycles (their bytes must come from elsewhere), in piece order. */
  readonly broken: Int32Array;
  /** Total length of the broken pieces. */
  readonly brokenBytes: number;
}

/**
 * Orders the copies' pieces so none reads bytes an earlier one overwrote (a piece that overlaps
 * its own source is fine: the patcher moves it like memmove); when only cycles remain, the
 * smallest piece of each strongly connected group is taken out, and the order goes on; pieces of
 * one copy that then run one after another are joined into one. Pieces are at most 64 per copy;
 * each round of cycle breaking costs O(pieces + overlaps).
 * @example
 * const plan = planInPlace({ targetOffset, sourceOffset, length, count });
 * for (const i of plan.order) runCopy(i);
 */
export function planInPlace(copies: InPlaceCopies): InPlacePlan {
  // Most deltas have no cycle: then the copies are the pieces (cutting them would only multiply
  // the steps, and the checkpoints between them, for nothing).
  const whole = new Int32Array(copies.count);
  for (let i = 0; i < copies.count; i++) whole[i] = i;
  const plain = orderPieces(copies, whole, true);
  if (plain !== undefined) return plain;
  const { pieces, copyOf } = splitAtTargets(copies);
  return joinRuns(orderPieces(pieces, copyOf)!);
}

/**
 * Kahn's order of the pieces, breaking what cycles remain at the smallest piece of each; with
 * `acyclicOnly`, undefined as soon as there is a cycle.
 */
function orderPieces(pieces: InPlaceCopies, copyOf: Int32Array, acyclicOnly = false): InPlacePlan | undefined {
  const n = pieces.count;
  const len = pieces.length;
  const { firstEdge, targets, indegree } = edgesOf(pieces);

  // Kahn's algorithm; ready copies run in op order (a min-heap on the index keeps the file
  // written front to back where the graph allows, which reads and writes sequentially).
  const order = new Int32Array(n);
  let placed = 0;
  const done = new Uint8Array(n);
  const ready = new MinHeap(n, (i) => i);
  for (let i = 0; i < n; i++) if (indegree[i] === 0) ready.push(i);
  const broken: number[] = [];
  let brokenBytes = 0;
  const release = (u: number) => {
    for (let k = firstEdge[u]!; k < firstEdge[u + 1]!; k++) {
      const v = targets[k]!;
      if (done[v] === 0 && --indegree[v]! === 0) ready.push(v);
    }
  };
  // A ready neighbour of the piece just placed, of the same copy, goes next (the way the run
  // already goes first): runs of a copy stay together for joinRuns. Which ready piece goes next
  // never changes which pieces are broken: Kahn's algorithm places every piece not blocked by a
  // cycle, in any order.
  let last = -1;
  let step = 1;
  const readyNeighbour = (u: number, d: number): boolean => {
    const v = u + d;
    return v >= 0 && v < n && copyOf[v] === copyOf[u] && done[v] === 0 && indegree[v] === 0;
  };
  while (placed + broken.length < n) {
    let u = -1;
    if (last >= 0) {
      if (readyNeighbour(last, step)) u = last + step;
      else if (readyNeighbour(last, -step)) {
        step = -step;
        u = last + step;
      }
    }
    if (u < 0 && ready.size > 0) u = ready.pop();
    if (u >= 0) {
      if (done[u] !== 0) continue;
      done[u] = 1;
      order[placed++] = u;
      release(u);
      last = u;
      continue;
    }
    last = -1;
    // A cycle among whole copies: the caller plans pieces instead (breaking the copies' cycles
    // only to throw that plan away took a shuffled tar's planning 5 MiB higher).
    if (acyclicOnly) return undefined;
    // Only cycles (and what they block) remain: in every strongly connected group of what is
    // left, take out its smallest piece; then carry on with what that released.
    for (const u of smallestPerCycle(n, done, firstEdge, targets, len)) {
      done[u] = 2;
      broken.push(u);
      brokenBytes += len[u]!;
      release(u);
    }
  }
  return { pieces, copyOf, order: order.subarray(0, placed), broken: Int32Array.from(broken).sort(), brokenBytes };
}

/**
 * The edges u → v (v writes where u reads) in compact form: u's at targets[firstEdge[u] ..
 * firstEdge[u + 1]), ascending; and how many point at each piece. Pieces' targets are disjoint
 * and ascending, so the targets a source overlaps are one run, found by binary search: no
 * quadratic scan, whatever the sources' overlaps. Counted, then filled: lists of edges grown as
 * they came held the 256 MiB delta's planning 24 MiB higher.
 */
function edgesOf(pieces: InPlaceCopies): { firstEdge: Int32Array; targets: Int32Array; indegree: Int32Array } {
  const n = pieces.count;
  const { targetOffset: tOff, sourceOffset: sOff, length: len } = pieces;
  const targetEnds = new Float64Array(n);
  for (let i = 0; i < n; i++) targetEnds[i] = tOff[i]! + len[i]!;
  const each = (visit: (u: number, v: number) => void) => {
    for (let u = 0; u < n; u++) {
      const a = sOff[u]!;
      const b = a + len[u]!;
      for (let v = upperBound(targetEnds, a + 0.5); v < n && tOff[v]! < b; v++) if (v !== u) visit(u, v);
    }
  };
  const firstEdge = new Int32Array(n + 1);
  each((u) => firstEdge[u + 1]!++);
  for (let i = 0; i < n; i++) firstEdge[i + 1]! += firstEdge[i]!;
  const targets = new Int32Array(firstEdge[n]!);
  const indegree = new Int32Array(n);
  let e = 0;
  each((_, v) => {
    targets[e++] = v;
    indegree[v]!++;
  });
  return { firstEdge, targets, indegree };
}

/**
 * The plan with every run of pieces that the order takes one after another, of one copy and
 * adjacent in the target, joined into one piece. The patcher moves a piece like memmove (every
 * byte read before it is overwritten), so the file ends the same; what changes is the I/O: an
 * insertion makes the cuts cascade through the shifted copies up to the 64-piece cap, and a
 * 256 MiB in-place delta of 3,099 copies planned 199,258 pieces of ~1.3 KiB, two system calls
 * each (18.5 s, against 0.5 s for patching to a new file). Broken pieces stay as they are.
 * Pieces stay in target order, those of one copy consecutive.
 */
function joinRuns(plan: InPlacePlan): InPlacePlan {
  const { pieces, copyOf, order, broken } = plan;
  const { targetOffset: tOff, sourceOffset: sOff, length: len } = pieces;
  // Each run becomes its first piece, stretched; the others are dropped.
  const keep = new Uint8Array(pieces.count);
  const start = tOff.slice();
  const end = new Float64Array(pieces.count);
  for (let i = 0; i < pieces.count; i++) end[i] = tOff[i]! + len[i]!;
  const runs: number[] = [];
  for (let k = 0; k < order.length; ) {
    const head = order[k]!;
    const shift = sOff[head]! - tOff[head]!;
    let j = k + 1;
    for (; j < order.length; j++) {
      const p = order[j]!;
      if (copyOf[p] !== copyOf[head] || sOff[p]! - tOff[p]! !== shift) break;
      if (tOff[p] === end[head]) end[head] = tOff[p]! + len[p]!;
      else if (end[p] === start[head]) start[head] = tOff[p]!;
      else break;
    }
    keep[head] = 1;
    runs.push(head);
    k = j;
  }
  if (runs.length === order.length) return plan;
  for (const b of broken) keep[b] = 1;
  const renumber = new Int32Array(pieces.count).fill(-1);
  const kept: number[] = [];
  for (let i = 0; i < pieces.count; i++) if (keep[i] === 1) kept.push(i);
  // By target: the runs of a copy are disjoint and within it, so target order is still copy order.
  kept.sort((a, b) => start[a]! - start[b]!);
  const n = kept.length;
  const t = new Float64Array(n);
  const s = new Float64Array(n);
  const l = new Float64Array(n);
  const of = new Int32Array(n);
  kept.forEach((i, k) => {
    renumber[i] = k;
    t[k] = start[i]!;
    s[k] = start[i]! + sOff[i]! - tOff[i]!;
    l[k] = end[i]! - start[i]!;
    of[k] = copyOf[i]!;
  });
  return {
    pieces: { targetOffset: t, sourceOffset: s, length: l, count: n },
    copyOf: of,
    order: Int32Array.from(runs, (i) => renumber[i]!),
    broken: Int32Array.from(broken, (i) => renumber[i]!).sort(),
    brokenBytes: plan.brokenBytes,
  };
}

/**
 * Cuts every copy where its source range crosses the start or end of a piece's target, and
 * repeats on the pieces (each cut is a new target boundary of the piece it lands in) until
 * nothing changes (at most 64 rounds and 64 pieces per copy). Then a piece reads from at most one
 * piece, cycles are rings of pieces, and breaking each at its smallest piece costs little:
 * measured on the size corpus, one round left a shuffled tar's cycles costing 494 KB of
 * literals, the fixpoint 24 KB. Pieces of one copy are consecutive and in target order.
 */
function splitAtTargets(copies: InPlaceCopies): { pieces: InPlaceCopies; copyOf: Int32Array } {
  // Only boundaries new since the last round can cut a piece: each piece was cut at every older
  // one in its source already. Rescanning all of them each round took 1 s of a 256 MiB in-place
  // patch's 1.3 s of planning (64 rounds over up to 199,000 pieces).
  let fresh: Float64Array = new Float64Array(2 * copies.count);
  for (let i = 0; i < copies.count; i++) {
    fresh[2 * i] = copies.targetOffset[i]!;
    fresh[2 * i + 1] = copies.targetOffset[i]! + copies.length[i]!;
  }
  fresh.sort();
  // Rounds write into two lists in turn: a fresh set of arrays per round left up to 64 of them
  // to the collector (planning the 256 MiB delta above peaked 19 MiB higher).
  let pieces = PieceList.of(copies);
  let into = new PieceList(copies.count);
  for (let round = 0; round < SPLIT_ROUNDS && pieces.count < SPLIT_MAX_FACTOR * copies.count + 16; round++) {
    const cuts = splitOnce(copies, pieces, fresh, into);
    if (cuts.length === 0) break;
    [pieces, into] = [into, pieces];
    fresh = cuts;
  }
  return pieces.placed(copies);
}

/**
 * Pieces being cut, as lengths and copies alone (12 bytes a piece instead of 28; the 256 MiB
 * delta's cutting peaked 15 MiB lower): a piece starts
 * where the one before it of its copy ends, or where its copy starts, and reads at its copy's
 * displacement. The arrays grow by half again and are reused from round to round.
 */
class PieceList {
  length: Float64Array;
  copyOf: Int32Array;
  count = 0;

  constructor(capacity: number) {
    this.length = new Float64Array(capacity);
    this.copyOf = new Int32Array(capacity);
  }

  /** The copies themselves, one piece each. */
  static of(copies: InPlaceCopies): PieceList {
    const list = new PieceList(copies.count);
    list.count = copies.count;
    list.length.set(copies.length.subarray(0, copies.count));
    for (let i = 0; i < copies.count; i++) list.copyOf[i] = i;
    return list;
  }

  /** Makes room for `count` pieces (their values are not kept). */
  reset(count: number): void {
    this.count = count;
    if (count <= this.length.length) return;
    const capacity = Math.max(count, Math.ceil(1.5 * this.length.length));
    this.length = new Float64Array(capacity);
    this.copyOf = new Int32Array(capacity);
  }

  /** Where piece `i` starts in the target, given where piece `i - 1` starts (`previous`). */
  targetOf(copies: InPlaceCopies, i: number, previous: number): number {
    const c = this.copyOf[i]!;
    return i > 0 && this.copyOf[i - 1] === c ? previous + this.length[i - 1]! : copies.targetOffset[c]!;
  }

  /** The pieces with their target and source offsets written out. */
  placed(copies: InPlaceCopies): { pieces: InPlaceCopies; copyOf: Int32Array } {
    const n = this.count;
    const targetOffset = new Float64Array(n);
    const sourceOffset = new Float64Array(n);
    let t = 0;
    for (let i = 0; i < n; i++) {
      t = this.targetOf(copies, i, t);
      targetOffset[i] = t;
      sourceOffset[i] = t + shiftOf(copies, this.copyOf[i]!);
    }
    return { pieces: { targetOffset, sourceOffset, length: this.length.slice(0, n), count: n }, copyOf: this.copyOf.slice(0, n) };
  }
}

const SPLIT_ROUNDS = 64;
const SPLIT_MAX_FACTOR = 64;

/** How far copy `c` reads from where it writes (source minus target offset). */
function shiftOf(copies: InPlaceCopies, c: number): number {
  return copies.sourceOffset[c]! - copies.targetOffset[c]!;
}

/**
 * Cuts every piece where its source range crosses one of `bounds` (ascending target positions),
 * writing the pieces into `out`; returns where the new pieces' targets start (ascending).
 */
function splitOnce(copies: InPlaceCopies, list: PieceList, bounds: Float64Array, out: PieceList): Float64Array {
  const n = list.count;
  const { length: len, copyOf: parent } = list;
  // Cutting only at the ends of runs moved by one displacement was tried: it stops the cascade an
  // insertion causes (cuts stepping through a shifted run), but left a shuffled tar's cycles
  // needing 507 KB instead of 24 KB; the caps above bound the cascade instead.
  let total = n;
  for (let i = 0, t = 0; i < n; i++) {
    t = list.targetOf(copies, i, t);
    const start = t + shiftOf(copies, parent[i]!);
    total += cutsIn(bounds, start, start + len[i]!);
  }
  const cuts = new Float64Array(total - n);
  if (total === n) return cuts;
  out.reset(total);
  const { length: l, copyOf: of } = out;
  let m = 0;
  let c = 0;
  for (let i = 0, t = 0; i < n; i++) {
    t = list.targetOf(copies, i, t);
    const start = t + shiftOf(copies, parent[i]!);
    const end = start + len[i]!;
    let cut = start;
    for (let k = upperBound(bounds, start + 0.5); k < bounds.length && bounds[k]! < end; k++) {
      if (bounds[k]! <= cut) continue;
      l[m] = bounds[k]! - cut;
      of[m++] = parent[i]!;
      cut = bounds[k]!;
      cuts[c++] = t + (cut - start);
    }
    l[m] = end - cut;
    of[m++] = parent[i]!;
  }
  return cuts.sort();
}

/** How many distinct `bounds` lie strictly inside (start, end). */
function cutsIn(bounds: Float64Array, start: number, end: number): number {
  let cut = start;
  let count = 0;
  for (let k = upperBound(bounds, start + 0.5); k < bounds.length && bounds[k]! < end; k++) {
    if (bounds[k]! <= cut) continue;
    cut = bounds[k]!;
    count++;
  }
  return count;
}

/**
 * The smallest node of each strongly connected component (of two or more nodes) among the nodes
 * not yet done: Tarjan's algorithm, iterative so a long chain cannot overflow the stack.
 */
function smallestPerCycle(n: number, done: Uint8Array, firstEdge: Int32Array, targets: Int32Array, len: Float64Array): number[] {
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const callNode: number[] = [];
  const callEdge: number[] = [];
  const picked: number[] = [];
  let next = 0;
  for (let root = 0; root < n; root++) {
    if (done[root] !== 0 || index[root] !== -1) continue;
    callNode.push(root);
    callEdge.push(firstEdge[root]!);
    index[root] = low[root] = next++;
    stack.push(root);
    onStack[root] = 1;
    while (callNode.length > 0) {
      const v = callNode[callNode.length - 1]!;
      const e = callEdge[callEdge.length - 1]!;
      if (e < firstEdge[v + 1]!) {
        callEdge[callEdge.length - 1] = e + 1;
        const w = targets[e]!;
        if (done[w] !== 0) continue;
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          stack.push(w);
          onStack[w] = 1;
          callNode.push(w);
          callEdge.push(firstEdge[w]!);
        } else if (onStack[w] === 1) low[v] = Math.min(low[v]!, index[w]!);
        continue;
      }
      callNode.pop();
      callEdge.pop();
      if (callNode.length > 0) {
        const parent = callNode[callNode.length - 1]!;
        low[parent] = Math.min(low[parent]!, low[v]!);
      }
      if (low[v] !== index[v]) continue;
      // v is the root of a component: pop it, remembering its smallest node.
      let size = 0;
      let best = -1;
      for (;;) {
        const w = stack.pop()!;
        onStack[w] = 0;
        size++;
        if (best < 0 || len[w]! < len[best]! || (len[w] === len[best] && w < best)) best = w;
        if (w === v) break;
      }
      if (size > 1) picked.push(best);
    }
  }
  return picked;
}

function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A binary min-heap of indices keyed by `key(index)` (ties by index). */
class MinHeap {
  private readonly heap: Int32Array;
  private readonly key: (i: number) => number;
  size = 0;

  constructor(capacity: number, key: (i: number) => number) {
    this.heap = new Int32Array(Math.max(1, capacity));
    this.key = key;
  }

  private less(a: number, b: number): boolean {
    const ka = this.key(a);
    const kb = this.key(b);
    return ka < kb || (ka === kb && a < b);
  }

  push(i: number): void {
    const h = this.heap;
    let k = this.size++;
    h[k] = i;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!this.less(h[k]!, h[p]!)) break;
      [h[k], h[p]] = [h[p]!, h[k]!];
      k = p;
    }
  }

  pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.size]!;
    let k = 0;
    h[0] = last;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const c = r < this.size && this.less(h[r]!, h[l]!) ? r : l;
      if (!this.less(h[c]!, h[k]!)) break;
      [h[k], h[c]] = [h[c]!, h[k]!];
      k = c;
    }
    return top;
  }
}
