import { planInPlace, type InPlacePlan } from '../core/in-place-plan.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';

const COPY = 1;
/** What `inPlace` lets the device save aside by default: a shuffled tar needs ~24 KB. */
export const DEFAULT_STASH = 256 << 10;
const ADD = 2;

/**
 * The ops holder of a diff made with `inPlace` (undefined without it), its stash budget checked.
 * @example
 * const held = inPlaceOpsFor({ inPlace: true, inPlaceStash: 0 }); // cycles sent as literals
 */
export function inPlaceOpsFor(opts: { inPlace?: boolean; inPlaceStash?: number }): InPlaceOps | undefined {
  const stash = opts.inPlaceStash;
  if (!opts.inPlace) return undefined;
  if (stash !== undefined && (!Number.isSafeInteger(stash) || stash < 0)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `inPlaceStash must be a whole number of bytes, 0 or more, got ${String(stash)}`);
  }
  return new InPlaceOps(stash);
}

/**
 * Holds a diff's ops until the end and plans them as the patching device will (see
 * core/in-place-plan.ts). When breaking the copy cycles needs more bytes saved aside than the
 * device's budget, every piece that closes a cycle is sent as a literal of the same bytes
 * instead, and the device saves nothing. Literal and diff bytes are copied in
 * (with the Uint8Array constructor: on a Buffer, slice() would return a view).
 * @example
 * const ops = new InPlaceOps(); matcher = new DiffMatcher(basis, ops); ...; ops.replay(basis, encoder);
 */
export class InPlaceOps implements OpSink {
  private kinds: number[] = [];
  private offsets: number[] = [];
  private lengths: number[] = [];
  private data: (Uint8Array | undefined)[] = [];
  /** Bytes turned into literals by the last replay. */
  literalBytes = 0;
  /** Bytes the device will save aside to break cycles (when within the budget). */
  stashBytes = 0;

  /** `stashBudget`: bytes the patching device may save aside; beyond it, cycles become literals. */
  constructor(private readonly stashBudget = DEFAULT_STASH) {}

  copy(offset: number, length: number): void {
    this.push(COPY, offset, length, undefined);
  }

  literal(data: Uint8Array): void {
    this.push(0, 0, data.length, new Uint8Array(data));
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    this.push(ADD, offset, length, new Uint8Array(diff));
  }

  private push(kind: number, offset: number, length: number, data: Uint8Array | undefined): void {
    this.kinds.push(kind);
    this.offsets.push(offset);
    this.lengths.push(length);
    this.data.push(data);
  }

  /**
   * Sends the ops to `sink` in order, cycle-closing copies and adds as literals. The plan is made on
   * exactly what the device will decode (the encoder merges a copy that continues the previous
   * one), and made again after pieces were turned into literals: the pieces left around them go
   * out merged into runs, which can close new cycles the device would have to break.
   */
  replay(basis: Uint8Array, sink: OpSink): void {
    let ops: HeldOps = { kinds: this.kinds, offsets: this.offsets, lengths: this.lengths, data: this.data };
    this.literalBytes = 0;
    for (let round = 0; ; round++) {
      ops = mergeCopies(ops);
      const plan = planOf(ops);
      // Within the budget the device breaks the cycles itself (the same plan, from the same ops).
      if (plan.brokenBytes <= this.stashBudget || round === MAX_ROUNDS) {
        this.stashBytes = plan.brokenBytes;
        break;
      }
      const broken = new Uint8Array(plan.pieces.count);
      for (const k of plan.broken) broken[k] = 1;
      ops = breakPieces(ops, plan, broken, basis);
      this.literalBytes += plan.brokenBytes;
    }
    for (let i = 0; i < ops.kinds.length; i++) {
      const kind = ops.kinds[i]!;
      if (kind === 0) sink.literal(ops.data[i]!);
      else if (kind === COPY) sink.copy(ops.offsets[i]!, ops.lengths[i]!);
      else sink.add!(ops.offsets[i]!, ops.lengths[i]!, ops.data[i]!);
    }
  }
}

/** Rounds of planning before the device is left to save the rest aside (never reached in tests). */
const MAX_ROUNDS = 64;

interface HeldOps {
  kinds: number[];
  offsets: number[];
  lengths: number[];
  data: (Uint8Array | undefined)[];
}

function noOps(): HeldOps {
  return { kinds: [], offsets: [], lengths: [], data: [] };
}

function put(ops: HeldOps, kind: number, offset: number, length: number, data: Uint8Array | undefined): void {
  ops.kinds.push(kind);
  ops.offsets.push(offset);
  ops.lengths.push(length);
  ops.data.push(data);
}

/** The ops as the encoder writes them: a copy that continues the previous copy joins it. */
function mergeCopies(ops: HeldOps): HeldOps {
  const out = noOps();
  for (let i = 0; i < ops.kinds.length; i++) {
    const kind = ops.kinds[i]!;
    const last = out.kinds.length - 1;
    if (kind === COPY && last >= 0 && out.kinds[last] === COPY && out.offsets[last]! + out.lengths[last]! === ops.offsets[i]) {
      out.lengths[last]! += ops.lengths[i]!;
      continue;
    }
    put(out, kind, ops.offsets[i]!, ops.lengths[i]!, ops.data[i]);
  }
  return out;
}

/** The device's plan of these ops: copies and adds both read the basis. */
function planOf(ops: HeldOps): InPlacePlan {
  let copies = 0;
  for (const k of ops.kinds) if (k !== 0) copies++;
  const targetOffset = new Float64Array(copies);
  const sourceOffset = new Float64Array(copies);
  const length = new Float64Array(copies);
  let c = 0;
  let at = 0;
  for (let i = 0; i < ops.kinds.length; i++) {
    if (ops.kinds[i] !== 0) {
      targetOffset[c] = at;
      sourceOffset[c] = ops.offsets[i]!;
      length[c] = ops.lengths[i]!;
      c++;
    }
    at += ops.lengths[i]!;
  }
  return planInPlace({ targetOffset, sourceOffset, length, count: copies });
}

/** The ops with every broken piece sent as a literal of its bytes; the other pieces as runs. */
function breakPieces(ops: HeldOps, plan: InPlacePlan, broken: Uint8Array, basis: Uint8Array): HeldOps {
  const out = noOps();
  const { pieces, copyOf } = plan;
  let c = 0;
  let p = 0;
  for (let i = 0; i < ops.kinds.length; i++) {
    const kind = ops.kinds[i]!;
    if (kind === 0) {
      put(out, 0, 0, ops.lengths[i]!, ops.data[i]);
      continue;
    }
    const start = ops.offsets[i]!;
    let runStart = -1;
    let runEnd = 0;
    const flushRun = (): void => {
      if (runStart < 0) return;
      put(out, kind, runStart, runEnd - runStart, kind === COPY ? undefined : ops.data[i]!.subarray(runStart - start, runEnd - start));
      runStart = -1;
    };
    for (; p < pieces.count && copyOf[p] === c; p++) {
      const off = pieces.sourceOffset[p]!;
      const len = pieces.length[p]!;
      if (broken[p] !== 1) {
        if (runStart < 0) runStart = off;
        runEnd = off + len;
        continue;
      }
      flushRun();
      // A copy, never a view: the basis may be a Buffer, whose slice() shares memory.
      const bytes = new Uint8Array(basis.subarray(off, off + len));
      if (kind === ADD) {
        const d = ops.data[i]!;
        const rel = off - start;
        for (let k = 0; k < len; k++) bytes[k] = (bytes[k]! + d[rel + k]!) & 0xff;
      }
      put(out, 0, 0, len, bytes);
    }
    flushRun();
    c++;
  }
  return out;
}
