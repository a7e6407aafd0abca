// The native delta format's numbers: frame types, op kinds, payload codecs (see docs/FORMAT.md).

/** Frame types of the native delta format. */
export const FRAME_OPS = 0x01;
export const FRAME_TRAILER = 0xff;
/** Bytes before a frame's body: type, body length, CRC. */
export const FRAME_HEAD = 9;
/** A trailer's body: target length and frame count (varints of 1 to 8 bytes) around a SHA-256. */
export const TRAILER_MIN = 1 + 32 + 1;
export const TRAILER_MAX = 8 + 32 + 8;
/** Offsets and lengths must stay below this so every varint and zigzag is a safe integer. */
export const MAX_NATIVE_VALUE = 2 ** 50;
/** Op kinds, the low two bits of an op's tag varint. */
export const OP_LITERAL = 0;
export const OP_COPY = 1;
export const OP_ADD = 2;

/** Codecs of an ops frame's payload. */
export const CODEC_STORED = 0;
export const CODEC_DEFLATE = 1;
export const CODEC_SECTIONS = 2;
export const CODEC_SECTIONS_CM = 3;
/** A frame that is one literal op, stored: the payload is its bytes (incompressible new content). */
export const CODEC_LITERAL = 4;
/** The level from which ops frames use the context-mixing coder instead of deflate. */
export const CM_LEVEL = 9;
